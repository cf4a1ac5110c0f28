
"use strict";
// The leaderboard page: draws the board embedded in #board-data (see drp_bench/leaderboard/
// build.py). Text from the board only ever reaches the page through text nodes and attribute
// values (append / textContent / setAttribute), never as markup.
(function () {
  const board = JSON.parse(document.getElementById("board-data").textContent);
  const METRICS = Object.keys(board.metrics);
  const ROLE_ORDER = board.roles;  // drp_bench.methods.contracts.DISPLAY_ROLES
  const TRUST_RANK = { reproduced: 0, verified: 1, reported: 2 };
  const TRUST_MEANING = {
    reproduced: "re-ran the entry's configuration with the same models: same predictions",
    verified: "every score recomputed by the leaderboard from the predictions",
    reported: "numbers copied from a paper, never verified",
  };
  const SUSPECT_MEANING = "verified, but its predictions copy the references or its scores are "
    + "above what review generation plausibly reaches: not ranked until reproduced";
  const RANK_MEANING = "rank per split: reproduced entries first, then verified ones, each by "
    + "ROUGE-L; suspect entries are not ranked until reproduced, reported rows never";
  const PALETTE = ["#1f77b4", "#e8710a", "#2ca02c", "#9467bd", "#0f9fb0", "#d6399a",
    "#8c564b", "#d62728", "#7f7f7f", "#a5a61f"];
  const SVG_NS = "http://www.w3.org/2000/svg";
  const NONE = "\u2014";
  const NO_FAMILY = "__none__";
  // The scaling chart's x axes: what each reads of a row, how it is written and called.
  const CHART_X = {
    params: { value: (row) => row.params_b, fmt: (v) => fmtParams(v),
      title: "extractor parameters (log scale)", what: "extractor parameters" },
    tokens: { value: (row) => row.tokens_per_sample, fmt: (v) => fmtTokens(v),
      title: "tokens per sample, prompt + completion, all stages (log scale)",
      what: "tokens per sample" },
  };

  const state = {
    method: "",
    family: "",
    metric: METRICS.includes("rougeL") ? "rougeL" : METRICS[0],
    x: "params", // the chart's x axis: a key of CHART_X
    sorts: {}, // split id -> {col, dir}
    open: null, // id of the entry in the detail view
  };
  const rowsById = new Map(board.rows.map((row) => [row.id, row]));
  const trsById = new Map(); // entry id -> its table row
  const families = unique(board.rows.map((row) => row.family).filter((f) => f !== null)).sort();
  // One colour per family and method, the same for its measured and its reported series.
  const seriesKey = (row) => JSON.stringify([row.family, row.method]);
  const seriesColor = new Map(unique(board.rows.map(seriesKey)).sort()
    .map((key, i) => [key, PALETTE[i % PALETTE.length]]));

  // ------------------------------------------------------------ helpers

  function unique(values) {
    return Array.from(new Set(values));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    node.append(...children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) {
        node.setAttribute(key, String(value));
      }
    }
  }

  function missing(value) {
    return value === null || value === undefined || value === "";
  }

  function fmtParams(p) {
    if (missing(p)) return NONE;
    return p < 1 ? `${+(p * 1000).toPrecision(4)}M` : `${+p.toPrecision(4)}B`;
  }

  function fmtNumber(value, digits) {
    return missing(value) ? NONE : value.toFixed(digits);
  }

  function fmtTokens(value) {
    return missing(value) ? NONE : Math.round(value).toLocaleString("en-US");
  }

  function familyKey(row) {
    return row.family === null ? NO_FAMILY : row.family;
  }

  function orderedRoles(models) {
    const roles = Object.keys(models);
    return ROLE_ORDER.filter((r) => roles.includes(r)).concat(
      roles.filter((r) => !ROLE_ORDER.includes(r)));
  }

  /** [[model name, [roles]]], in pipeline order of the roles' first use. */
  function modelGroups(row) {
    const groups = new Map();
    for (const role of orderedRoles(row.models)) {
      const name = row.models[role].name;
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(role);
    }
    return Array.from(groups.entries());
  }

  function modelsText(row) {
    const groups = modelGroups(row);
    if (groups.length <= 1) return groups.length ? groups[0][0] : "";
    return groups.map(([name, roles]) => `${name} (${roles.join(", ")})`).join("; ");
  }

  function trustBadge(trust) {
    return el("span", { class: `badge trust-${trust}`, title: TRUST_MEANING[trust] || "" }, trust);
  }

  /** Flagged (copied references, implausible scores) and not reproduced: shown, not ranked. */
  function isSuspect(row) {
    return row.flags.length > 0 && row.trust === "verified";
  }

  function suspectBadge(row) {
    return el("span", { class: "badge trust-suspect", title: row.flags.join("\n") }, "suspect");
  }

  function rankTitle(row) {
    if (row.rank !== null) return RANK_MEANING;
    return isSuspect(row) ? `not ranked: suspect (${row.flags.join("; ")})`
      : "not ranked: reported in a paper, never verified here";
  }

  function promptsNote(row) {
    if (!row.prompts_label) return null;
    const cls = row.other_prompts ? "prompts-note other" : "prompts-note";
    return el("span", { class: cls, title: "prompt templates and method stages" }, ` ${row.prompts_label}`);
  }

  function visible(row) {
    return (!state.method || row.method === state.method) &&
      (!state.family || familyKey(row) === state.family);
  }

  // ------------------------------------------------------------ tables

  const metricValue = (key) => (row) => (row.metrics[key] ? row.metrics[key].value : null);
  const COLUMNS = [
    { key: "rank", label: "#", num: true, ascFirst: true, value: (r) => r.rank },
    { key: "method", label: "Method", value: (r) => r.method_label },
    { key: "models", label: "Models", value: modelsText },
    { key: "params", label: "Params", num: true, value: (r) => r.params_b },
    { key: "family", label: "Family", value: (r) => r.family },
    ...METRICS.map((key) => ({ key, label: board.metrics[key], num: true, value: metricValue(key) })),
    { key: "uvq", label: "UVQ", num: true, value: (r) => r.uvq },
    { key: "tokens", label: "Tokens/sample", num: true, value: (r) => r.tokens_per_sample },
    { key: "trust", label: "Trust", rank: true, value: (r) => TRUST_RANK[r.trust] },
    { key: "date", label: "Date", value: (r) => r.date },
  ];
  const COLUMN_TITLES = {
    rank: RANK_MEANING,
    params: "extractor parameters (the generator's for a method without an extractor)",
    family: "the extractor's model family",
    uvq: "unique valid difference features per sample",
    tokens: "prompt + completion tokens per sample, all stages",
  };

  /** Missing values last in both directions; ties keep the default (ROUGE-L) order. */
  function comparator(column, dir) {
    const sign = dir === "asc" ? 1 : -1;
    return (a, b) => {
      const va = column.value(a);
      const vb = column.value(b);
      if (missing(va) || missing(vb)) return (missing(va) ? 1 : 0) - (missing(vb) ? 1 : 0);
      if (column.num || column.rank) return sign * (va - vb);
      return sign * String(va).localeCompare(String(vb), "en", { numeric: true });
    };
  }

  /** Ranked rows by rank, then the unranked ones (suspect, reported) by ROUGE-L. */
  function defaultOrder(rows) {
    const key = METRICS.includes("rougeL") ? "rougeL" : METRICS[0];
    const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const byRank = comparator({ num: true, value: (r) => r.rank }, "asc");
    const byMetric = comparator({ num: true, value: metricValue(key) }, "desc");
    return rows.slice().sort((a, b) => byRank(a, b) || byMetric(a, b) || byId(a, b));
  }

  function metricCell(row, key) {
    const m = row.metrics[key];
    if (!m) return el("td", { class: "num missing", "data-col": key }, NONE);
    const td = el("td", { class: "num", "data-col": key, "data-value": m.value },
      m.value.toFixed(4));
    if (!missing(m.ci_low) && !missing(m.ci_high)) {
      td.append(el("span", { class: "ci", title: "95% bootstrap confidence interval" },
        `[${m.ci_low.toFixed(3)}, ${m.ci_high.toFixed(3)}]`));
    }
    return td;
  }

  function modelsCell(row) {
    const td = el("td", { class: "models", "data-col": "models" });
    const groups = modelGroups(row);
    for (const [name, roles] of groups) {
      const line = el("div", null, name);
      if (groups.length > 1) line.append(" ", el("span", { class: "role" }, roles.join(", ")));
      td.append(line);
    }
    return td;
  }

  function plainCell(key, text, num) {
    const cls = (num ? "num" : "") + (text === NONE ? " missing" : "");
    return el("td", { class: cls.trim() || null, "data-col": key }, text);
  }

  function tableRow(row) {
    const tr = el("tr", {
      "data-entry": row.id, "data-method": row.method, "data-family": familyKey(row),
      "data-trust": row.trust, "data-suspect": isSuspect(row) ? "true" : null,
      class: `trust-${row.trust}` + (isSuspect(row) ? " suspect" : ""), tabindex: 0,
    });
    const rank = el("td", { class: row.rank === null ? "num missing" : "num", "data-col": "rank",
      title: rankTitle(row) }, row.rank === null ? NONE : String(row.rank));
    tr.append(
      rank,
      el("td", { class: "method", "data-col": "method" }, row.method_label),
      modelsCell(row),
      plainCell("params", fmtParams(row.params_b), true),
      plainCell("family", row.family === null ? NONE : row.family, false),
      ...METRICS.map((key) => metricCell(row, key)),
      plainCell("uvq", fmtNumber(row.uvq, 2), true),
      plainCell("tokens", fmtTokens(row.tokens_per_sample), true),
      el("td", { "data-col": "trust" }, trustBadge(row.trust),
        ...(isSuspect(row) ? [" ", suspectBadge(row)] : []), promptsNote(row)),
      plainCell("date", row.date, false),
    );
    tr.addEventListener("click", () => openDetail(row.id));
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        openDetail(row.id);
      }
    });
    trsById.set(row.id, tr);
    return tr;
  }

  function buildTable(split, rows) {
    const table = el("table", { class: "board", "data-split": split.id });
    const headRow = el("tr");
    for (const column of COLUMNS) {
      const th = el("th", {
        "data-col": column.key, class: column.num ? "num" : null, scope: "col", tabindex: 0,
        title: COLUMN_TITLES[column.key] || null,
      }, column.label);
      const sortBy = () => {
        const current = state.sorts[split.id];
        const first = column.num && !column.ascFirst ? "desc" : "asc";
        const dir = current && current.col === column.key
          ? (current.dir === "asc" ? "desc" : "asc") : first;
        state.sorts[split.id] = { col: column.key, dir };
        renderTable(split.id);
      };
      th.addEventListener("click", sortBy);
      th.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy();
        }
      });
      headRow.append(th);
    }
    const tbody = el("tbody");
    for (const row of rows) tbody.append(tableRow(row));
    const empty = el("tr", { class: "none-shown", hidden: true },
      el("td", { colspan: COLUMNS.length, class: "empty" }, "No row matches the filters."));
    tbody.append(empty);
    table.append(el("thead", null, headRow), tbody);
    return table;
  }

  function renderTable(splitId) {
    const table = document.querySelector(`table[data-split="${CSS.escape(splitId)}"]`);
    if (!table) return;
    const sort = state.sorts[splitId];
    let rows = defaultOrder(board.rows.filter((row) => row.split === splitId));
    const column = sort && COLUMNS.find((c) => c.key === sort.col);
    if (column) rows = rows.sort(comparator(column, sort.dir)); // stable: ties keep the default
    for (const th of table.tHead.rows[0].cells) {
      const dir = sort && th.dataset.col === sort.col ? sort.dir : null;
      if (dir) th.setAttribute("aria-sort", dir === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    const tbody = table.tBodies[0];
    let shown = 0;
    for (const row of rows) {
      const tr = trsById.get(row.id);
      tr.hidden = !visible(row);
      shown += tr.hidden ? 0 : 1;
      tbody.append(tr);
    }
    const empty = tbody.querySelector("tr.none-shown");
    empty.hidden = shown > 0;
    tbody.append(empty);
  }

  // ------------------------------------------------------------ scaling chart

  function niceStep(span, count) {
    const raw = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / power;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
  }

  function logTicks(lo, hi, values) {
    const ticks = [];
    for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of [1, 2, 5]) {
        const t = m * Math.pow(10, k);
        if (t >= lo && t <= hi) ticks.push(+t.toPrecision(6));
      }
    }
    return ticks.length >= 2 ? ticks : unique(values).sort((a, b) => a - b);
  }

  function chartSeries(rows, metric, axis) {
    const series = new Map();
    for (const row of rows) {
      const m = row.metrics[metric];
      const x = axis.value(row);
      if (!m || missing(x) || x <= 0) continue;
      const reported = row.trust === "reported";
      const key = JSON.stringify([reported, row.family, row.method]);
      if (!series.has(key)) {
        series.set(key, { reported, family: row.family, method: row.method,
          label: `${row.family === null ? "unknown family" : row.family} \u00b7 ${row.method_label}`
            + (reported ? " (paper)" : ""),
          color: seriesColor.get(seriesKey(row)), points: [] });
      }
      series.get(key).points.push({ x, y: m.value, row });
    }
    const list = Array.from(series.values());
    for (const s of list) s.points.sort((a, b) => a.x - b.x || a.y - b.y);
    return list.sort((a, b) => (a.reported - b.reported) || a.label.localeCompare(b.label, "en"));
  }

  // Shown rows with the metric but without the axis's figure (e.g. the paper's rows have no
  // tokens per sample): listed under the chart rather than silently left out.
  function undrawnNote(rows, metric, axis) {
    const undrawn = rows.filter((row) => row.metrics[metric]
      && (missing(axis.value(row)) || axis.value(row) <= 0));
    if (!undrawn.length || axis === CHART_X.params) return null;
    const measured = undrawn.filter((row) => row.trust !== "reported").map((row) => row.id);
    const reported = undrawn.length - measured.length;
    const parts = [];
    if (measured.length) parts.push(`${measured.length} entr${measured.length === 1 ? "y" : "ies"}`
      + ` whose submission records no ${axis.what} (${measured.join(", ")})`);
    if (reported) parts.push(`the paper's ${reported} reported row${reported === 1 ? "" : "s"}`
      + " (the paper reports no token counts)");
    return el("p", { class: "chart-note", "data-undrawn": undrawn.length },
      `Not drawn: ${parts.join("; ")}.`);
  }

  function drawChart(container, split, metric) {
    container.replaceChildren();
    const axis = CHART_X[state.x];
    const rows = board.rows.filter((row) => row.split === split.id && visible(row));
    const series = chartSeries(rows, metric, axis);
    const points = series.flatMap((s) => s.points);
    const note = undrawnNote(rows, metric, axis);
    if (!points.length) {
      container.append(el("p", { class: "empty" },
        `No chart: no shown row has both ${axis.what} and ${board.metrics[metric]}.`));
      if (note) container.append(note);
      return;
    }
    const legendRows = series.length + 3;
    const W = 960;
    const H = Math.max(320, 24 + legendRows * 18);
    const M = { left: 60, right: 250, top: 14, bottom: 44 };
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;

    const xs = points.map((p) => p.x);
    let xlo = Math.min(...xs);
    let xhi = Math.max(...xs);
    if (xlo === xhi) { xlo /= 2; xhi *= 2; }
    const pad = (Math.log10(xhi) - Math.log10(xlo)) * 0.06;
    const lx0 = Math.log10(xlo) - pad;
    const lx1 = Math.log10(xhi) + pad;
    const X = (v) => M.left + ((Math.log10(v) - lx0) / (lx1 - lx0)) * plotW;

    const ys = points.map((p) => p.y);
    let ylo = Math.min(...ys);
    let yhi = Math.max(...ys);
    const ypad = ylo === yhi ? Math.max(Math.abs(ylo) * 0.1, 0.01) : (yhi - ylo) * 0.12;
    ylo = ylo >= 0 ? Math.max(0, ylo - ypad) : ylo - ypad;
    yhi += ypad;
    const step = niceStep(yhi - ylo, 5);
    ylo = Math.floor(ylo / step) * step;
    yhi = Math.ceil(yhi / step) * step;
    const Y = (v) => M.top + (1 - (v - ylo) / (yhi - ylo)) * plotH;
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));

    const root = svg("svg", {
      viewBox: `0 0 ${W} ${H}`, role: "img", "data-split": split.id, "data-metric": metric,
      "data-x": state.x,
      "aria-label": `${board.metrics[metric]} against ${axis.what}, ${split.title}`,
    });
    const grid = svg("g", { class: "grid" });
    const axes = svg("g", { class: "axis" });
    for (let i = 0, t = ylo; t <= yhi + step / 2; i++, t = ylo + i * step) {
      const y = Y(t);
      grid.append(svg("line", { x1: M.left, x2: M.left + plotW, y1: y, y2: y }));
      axes.append(svg("text", { x: M.left - 6, y: y + 4, "text-anchor": "end" }, t.toFixed(digits)));
    }
    for (const t of logTicks(10 ** lx0, 10 ** lx1, xs)) {
      const x = X(t);
      grid.append(svg("line", { x1: x, x2: x, y1: M.top, y2: M.top + plotH }));
      axes.append(svg("text", { x, y: M.top + plotH + 16, "text-anchor": "middle" }, axis.fmt(t)));
    }
    axes.append(
      svg("line", { x1: M.left, x2: M.left + plotW, y1: M.top + plotH, y2: M.top + plotH }),
      svg("line", { x1: M.left, x2: M.left, y1: M.top, y2: M.top + plotH }),
      svg("text", { class: "axis-title", x: M.left + plotW / 2, y: H - 6, "text-anchor": "middle" },
        axis.title),
      svg("text", { class: "axis-title", x: 14, y: M.top + plotH / 2, "text-anchor": "middle",
        transform: `rotate(-90 14 ${M.top + plotH / 2})` }, board.metrics[metric]),
    );
    root.append(grid, axes);

    for (const s of series) {
      const g = svg("g", {
        class: "series", "data-family": s.family === null ? NO_FAMILY : s.family,
        "data-method": s.method, "data-trust": s.reported ? "reported" : "measured",
        "data-points": s.points.length,
      });
      if (s.points.length > 1) {
        g.append(svg("polyline", {
          points: s.points.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(" "),
          fill: "none", stroke: s.color, "stroke-width": s.reported ? 1.5 : 2,
          "stroke-dasharray": s.reported ? "5 4" : null,
        }));
      }
      for (const p of s.points) {
        const circle = svg("circle", {
          class: s.reported ? "point reported" : "point", "data-entry": p.row.id,
          cx: X(p.x).toFixed(1), cy: Y(p.y).toFixed(1), r: 4.5,
          fill: s.reported ? "#fff" : s.color, stroke: s.reported ? s.color : "#fff",
          "stroke-width": s.reported ? 2 : 1.5,
        }, svg("title", null, `${s.label}, ${axis.fmt(p.x)}: ${board.metrics[metric]} `
          + `${p.y.toFixed(4)} (${isSuspect(p.row) ? "suspect, " : ""}${p.row.trust}) \u2014 `
          + modelsText(p.row)));
        circle.addEventListener("click", () => openDetail(p.row.id));
        g.append(circle);
      }
      root.append(g);
    }
    root.append(legend(series, W - M.right + 16, M.top + 4));
    container.append(root);
    if (note) container.append(note);
  }

  function legend(series, x, y) {
    const g = svg("g", { class: "legend" });
    const item = (i, color, reported, text) => {
      const cy = y + i * 18 + 6;
      g.append(
        svg("line", { x1: x, x2: x + 26, y1: cy, y2: cy, stroke: color,
          "stroke-width": reported ? 1.5 : 2, "stroke-dasharray": reported ? "5 4" : null }),
        svg("circle", { cx: x + 13, cy, r: 4, fill: reported ? "#fff" : color,
          stroke: reported ? color : "#fff", "stroke-width": reported ? 2 : 1.5 }),
        svg("text", { x: x + 34, y: cy + 4 }, text),
      );
    };
    series.forEach((s, i) => item(i, s.color, s.reported, s.label));
    const n = series.length;
    item(n + 0.5, "#57606a", false, "measured here");
    item(n + 1.5, "#57606a", true, "reported (paper)");
    return g;
  }

  function renderCharts() {
    for (const split of board.splits) {
      const container = document.querySelector(`.chart[data-split="${CSS.escape(split.id)}"]`);
      if (container) drawChart(container, split, state.metric);
    }
  }

  // ------------------------------------------------------------ detail view

  function kvTable(id, pairs, head) {
    const table = el("table", { id });
    if (head) table.append(el("thead", null, el("tr", null, ...head.map((h) => el("th", null, h)))));
    const tbody = el("tbody");
    for (const [key, value] of pairs) {
      tbody.append(el("tr", { "data-key": key }, el("th", { scope: "row" }, key),
        el("td", { class: "mono" }, value)));
    }
    table.append(tbody);
    return table;
  }

  function detailBody(row) {
    const split = board.splits.find((s) => s.id === row.split);
    const facts = el("dl");
    const fact = (term, ...value) => facts.append(el("dt", null, term), el("dd", null, ...value));
    fact("entry", el("span", { class: "mono" }, row.id));
    fact("trust", trustBadge(row.trust), ` ${TRUST_MEANING[row.trust] || ""}`);
    fact("rank", row.rank === null ? `${NONE} ${rankTitle(row)}` : `${row.rank} (${RANK_MEANING})`);
    if (row.flags.length) {
      const flags = el("ul", { id: "detail-flags" }, ...row.flags.map((f) => el("li", null, f)));
      fact(isSuspect(row) ? "suspect" : "flags (reproduced)",
        isSuspect(row) ? suspectBadge(row) : null, ` ${isSuspect(row) ? SUSPECT_MEANING : ""}`,
        flags);
    }
    if (row.prompts_label) fact("prompts", row.prompts_label);
    fact("split", split ? split.title : row.split);
    fact("method", `${row.method_label} (${row.method})`);
    fact("submitter", row.submitter === null ? NONE : row.submitter);
    fact("date", row.date);
    if (row.source !== null) fact("source", row.source);
    fact("notes", row.notes === null ? NONE : row.notes);
    for (const key of METRICS) {
      const m = row.metrics[key];
      const ci = m && !missing(m.ci_low) && !missing(m.ci_high)
        ? ` [${m.ci_low.toFixed(4)}, ${m.ci_high.toFixed(4)}]` : "";
      fact(board.metrics[key], m ? m.value.toFixed(4) + ci : NONE);
    }
    fact("UVQ", fmtNumber(row.uvq, 2));
    fact("tokens / sample", fmtTokens(row.tokens_per_sample));
    fact("calls / sample", fmtNumber(row.calls_per_sample, 1));

    const models = el("table", { id: "detail-models" }, el("thead", null, el("tr", null,
      el("th", null, "role"), el("th", null, "model"), el("th", null, "files"))));
    const mbody = el("tbody");
    for (const role of orderedRoles(row.models)) {
      const m = row.models[role];
      const about = [m.family, fmtParams(m.params_b), m.reasoning ? "reasoning" : null]
        .filter((x) => x !== null && x !== NONE).join(", ");
      const files = el("td", { class: "mono" });
      for (const [label, value] of [["hub", m.hub_id], ["revision", m.revision],
        ["sha256", m.sha256]]) {
        if (value !== null) files.append(el("div", null, `${label}: ${value}`));
      }
      if (!files.childNodes.length) files.append(NONE);
      mbody.append(el("tr", { "data-role": role }, el("th", { scope: "row" }, role),
        el("td", null, m.name, about ? el("div", { class: "role" }, about) : null), files));
    }
    models.append(mbody);

    const samples = el("div", { id: "detail-samples" });
    for (const pair of row.samples) {
      const reference = pair.reference === null
        ? el("em", { class: "missing" }, "reference not public") : pair.reference;
      samples.append(el("div", { class: "sample", "data-sample": pair.sample_id },
        el("div", { class: "sample-id" }, `sample ${pair.sample_id}`),
        el("div", { class: "sample-pair" },
          el("div", { class: "prediction" }, el("span", { class: "label" }, "prediction"),
            pair.prediction),
          el("div", { class: "reference" }, el("span", { class: "label" }, "reference"),
            reference))));
    }
    if (!row.samples.length) samples.append(el("p", { class: "empty" }, "No sample predictions."));

    const settings = Object.entries(row.settings);
    return [
      facts,
      el("h3", null, "Models"), models,
      el("h3", null, "Settings"),
      settings.length ? kvTable("detail-settings", settings, ["setting", "value"])
        : el("p", { class: "empty", id: "detail-settings" }, "No settings recorded."),
      el("h3", null, "Sample predictions"), samples,
    ];
  }

  const detail = document.getElementById("detail");
  let returnFocus = null;

  function openDetail(id) {
    const row = rowsById.get(id);
    if (!row) return;
    state.open = id;
    for (const tr of document.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    const tr = trsById.get(id);
    if (tr) tr.classList.add("selected");
    returnFocus = document.activeElement;
    detail.dataset.entry = id;
    const main = row.models.extractor || row.models.generator || Object.values(row.models)[0];
    document.getElementById("detail-title").textContent =
      main ? `${row.method_label} \u00b7 ${main.name}` : row.method_label;
    document.getElementById("detail-body").replaceChildren(...detailBody(row));
    detail.hidden = false;
    detail.scrollTop = 0;
    document.getElementById("detail-close").focus();
    setHash(`entry=${encodeURIComponent(id)}`);
  }

  function closeDetail() {
    if (detail.hidden) return;
    detail.hidden = true;
    state.open = null;
    delete detail.dataset.entry;
    for (const tr of document.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
    setHash("");
  }

  function setHash(hash) {
    try {
      history.replaceState(null, "", hash ? `#${hash}` : location.pathname + location.search);
    } catch (error) {
      // a file: page whose origin forbids it: the view just has no link of its own
    }
  }

  // ------------------------------------------------------------ page

  function fillSelect(select, options) {
    for (const [value, label] of options) select.append(el("option", { value }, label));
  }

  function renderAll() {
    for (const split of board.splits) renderTable(split.id);
    renderCharts();
    const shown = board.rows.filter(visible).length;
    document.getElementById("shown").textContent =
      `${shown} of ${board.rows.length} rows shown`;
  }

  function init() {
    const methods = new Map();
    for (const row of board.rows) if (!methods.has(row.method)) methods.set(row.method, row.method_label);
    fillSelect(document.getElementById("filter-method"),
      Array.from(methods.entries()).sort((a, b) => a[1].localeCompare(b[1], "en")));
    const familyOptions = families.map((f) => [f, f]);
    if (board.rows.some((row) => row.family === null)) familyOptions.push([NO_FAMILY, "unknown"]);
    fillSelect(document.getElementById("filter-family"), familyOptions);
    const metricSelect = document.getElementById("chart-metric");
    fillSelect(metricSelect, METRICS.map((key) => [key, board.metrics[key]]));
    metricSelect.value = state.metric;
    const xSelect = document.getElementById("chart-x");
    fillSelect(xSelect, Object.entries(CHART_X).map(([key, axis]) => [key, axis.what]));
    xSelect.value = state.x;

    const main = document.getElementById("splits");
    for (const split of board.splits) {
      const rows = board.rows.filter((row) => row.split === split.id);
      const about = [split.description,
        split.num_samples === null ? null : `${split.num_samples} samples.`]
        .filter((x) => x).join(" ");
      const section = el("section", { class: "split", "data-split": split.id },
        el("h2", null, split.title), about ? el("p", { class: "split-about" }, about) : null);
      if (!rows.length) {
        section.append(el("p", { class: "empty" }, "No entries yet."));
      } else {
        section.append(el("div", { class: "chart", "data-split": split.id }),
          el("div", { class: "table-wrap" }, buildTable(split, rows)));
        state.sorts[split.id] = { col: "rank", dir: "asc" }; // ties (unranked): ROUGE-L
      }
      main.append(section);
    }

    document.getElementById("filter-method").addEventListener("change", (event) => {
      state.method = event.target.value;
      renderAll();
    });
    document.getElementById("filter-family").addEventListener("change", (event) => {
      state.family = event.target.value;
      renderAll();
    });
    metricSelect.addEventListener("change", (event) => {
      state.metric = event.target.value;
      renderCharts();
    });
    xSelect.addEventListener("change", (event) => {
      state.x = event.target.value;
      renderCharts();
    });
    document.getElementById("controls").addEventListener("submit", (e) => e.preventDefault());
    document.getElementById("detail-close").addEventListener("click", closeDetail);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") closeDetail();
    });
    renderAll();
    const match = /^#entry=(.+)$/.exec(location.hash);
    if (match) {
      try {
        openDetail(decodeURIComponent(match[1]));
      } catch (error) {
        // a malformed link: no detail view
      }
    }
  }

  init();
})();
