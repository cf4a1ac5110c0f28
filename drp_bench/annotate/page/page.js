"use strict";
// The study's annotation page (see drp_bench/annotate/page.py): the study embedded in #study,
// shown one task at a time in an order of each annotator's own. Labels are saved in
// localStorage on every change and exported as the annotator's file. Text from the study only
// ever reaches the page through text nodes and attribute values, never as markup.
(function () {
  const data = JSON.parse(document.getElementById("study").textContent);
  const study = data.study;
  const tasks = data.tasks;
  const tasksById = new Map(tasks.map((task) => [task.task_id, task]));
  const REASON_IDS = data.reasons.map((reason) => reason.id);
  const CHOICES = ["A", "B", "tie"];
  const RATINGS = [
    [1, "Not at all"], [2, "Poorly"], [3, "Partly"], [4, "Well"], [5, "Completely"],
  ];
  const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const REPEAT_GAP = 3; // a repeated task comes at least this many positions after its original
  const LONG_TEXT = 600; // characters: a longer review or description starts collapsed
  const LAST_KEY = `${data.storage_prefix}:${study.study_id}`;
  const storeKey = (name) => `${data.storage_prefix}:${study.study_id}:${name}`;

  const $ = (id) => document.getElementById(id);
  const state = {
    annotator: null,
    order: [], // task ids in this annotator's order
    pos: 0, // index into order; order.length: the "all answered" screen
    labels: {}, // task id -> {features: {fid: {valid, reason}}, set_rating, choice, answered_at}
  };

  // ------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(key, value === true ? "" : String(value));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function fmtRating(rating) {
    if (rating === null || rating === undefined) return null;
    const value = Number.isInteger(rating) ? String(rating) : Number(rating).toFixed(1);
    return el("span", { class: "rating", "aria-label": `rated ${value} of 5` },
      `\u2605 ${value}/5`);
  }

  // ------------------------------------------------------------ order

  function hash32(text) { // FNV-1a over the string's UTF-16 code units
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193);
    }
    return hash >>> 0;
  }

  function mulberry32(seed) { // a small seeded PRNG: numbers in [0, 1)
    let a = seed >>> 0;
    return function () {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function shuffle(list, rand) { // Fisher-Yates, in place
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
    return list;
  }

  // The annotator's order: the original tasks shuffled by a PRNG seeded from "seed:name", then
  // each repeat inserted at a random place at least REPEAT_GAP after its original (at the end
  // when the study is too short for that). Inserting never brings a repeat nearer its original.
  function taskOrder(annotator) {
    const rand = mulberry32(hash32(`${study.seed}:${annotator}`));
    const order = shuffle(tasks.filter((t) => t.repeat_of === null).map((t) => t.task_id), rand);
    for (const task of shuffle(tasks.filter((t) => t.repeat_of !== null), rand)) {
      const earliest = order.indexOf(task.repeat_of) + REPEAT_GAP;
      const at = earliest >= order.length
        ? order.length
        : earliest + Math.floor(rand() * (order.length - earliest + 1));
      order.splice(at, 0, task.task_id);
    }
    return order;
  }

  // ------------------------------------------------------------ labels

  function isAnswered(task, label) {
    if (!label) return false;
    if (task.type === "preference") return CHOICES.includes(label.choice);
    if (!RATINGS.some(([value]) => value === label.set_rating)) return false;
    return task.features.every((feature) => {
      const answer = (label.features || {})[feature.feature_id];
      return Boolean(answer) && (answer.valid === true
        || (answer.valid === false && REASON_IDS.includes(answer.reason)));
    });
  }

  const answeredCount = () =>
    tasks.filter((task) => isAnswered(task, state.labels[task.task_id])).length;
  const currentTask = () => tasksById.get(state.order[state.pos]) || null;

  // A saved label as the page keeps it, or null when it is not one (a hand-edited store).
  function cleanLabel(task, saved) {
    if (!saved || typeof saved !== "object") return null;
    const label = { answered_at: typeof saved.answered_at === "string" ? saved.answered_at : null };
    if (task.type === "preference") {
      label.choice = CHOICES.includes(saved.choice) ? saved.choice : null;
      return label;
    }
    label.set_rating = RATINGS.some(([v]) => v === saved.set_rating) ? saved.set_rating : null;
    label.features = {};
    for (const feature of task.features) {
      const answer = (saved.features || {})[feature.feature_id];
      if (!answer || typeof answer !== "object") continue;
      label.features[feature.feature_id] = {
        valid: typeof answer.valid === "boolean" ? answer.valid : null,
        reason: REASON_IDS.includes(answer.reason) ? answer.reason : null,
      };
    }
    return label;
  }

  // ------------------------------------------------------------ storage

  function storageWorks() {
    try {
      const probe = `${LAST_KEY}:probe`;
      localStorage.setItem(probe, "1");
      localStorage.removeItem(probe);
      return true;
    } catch (err) {
      return false;
    }
  }
  const STORAGE = storageWorks();

  function loadLabels(annotator) {
    if (!STORAGE) return {};
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(storeKey(annotator)) || "null");
    } catch (err) {
      saved = null;
    }
    const labels = {};
    const stored = saved && typeof saved === "object" ? saved.labels : null;
    if (!stored || typeof stored !== "object") return labels;
    for (const task of tasks) {
      const label = cleanLabel(task, stored[task.task_id]);
      if (label) labels[task.task_id] = label;
    }
    return labels;
  }

  function save() {
    if (!STORAGE || !state.annotator) return;
    const saved = {
      schema: data.schema, study_id: study.study_id, annotator: state.annotator,
      saved_at: new Date().toISOString(), labels: state.labels,
    };
    try {
      localStorage.setItem(storeKey(state.annotator), JSON.stringify(saved));
      localStorage.setItem(LAST_KEY, state.annotator);
    } catch (err) {
      $("storage-warning").hidden = false;
    }
  }

  // ------------------------------------------------------------ export

  // The annotator's file (AnnotatorFile of drp_bench/annotate/formats.py): answered tasks
  // only, in the study's order.
  function annotatorFile() {
    const labels = [];
    for (const task of tasks) {
      const label = state.labels[task.task_id];
      if (!isAnswered(task, label)) continue;
      const out = { task_id: task.task_id, answered_at: label.answered_at || new Date().toISOString() };
      if (task.type === "preference") {
        out.choice = label.choice;
      } else {
        out.features = task.features.map((feature) => {
          const answer = label.features[feature.feature_id];
          return { feature_id: feature.feature_id, valid: answer.valid,
            reason: answer.valid ? null : answer.reason };
        });
        out.set_rating = label.set_rating;
      }
      labels.push(out);
    }
    return { schema: data.schema, study_id: study.study_id, annotator: state.annotator,
      exported_at: new Date().toISOString(), labels };
  }

  function exportFile() {
    const file = annotatorFile();
    const blob = new Blob([JSON.stringify(file, null, 2) + "\n"], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: `${state.annotator}.json`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    const open = tasks.length - file.labels.length;
    $("export-status").textContent = `Downloaded ${state.annotator}.json with `
      + `${file.labels.length} of ${tasks.length} tasks`
      + (open ? ` (${open} not answered yet, left out).` : ".");
  }

  // ------------------------------------------------------------ drawing a task

  function reviewBox(heading, review, cls) {
    const long = review.text.length > LONG_TEXT;
    const summary = el("summary", {}, el("span", { class: "who" }, heading),
      fmtRating(review.rating), review.title ? el("span", { class: "rtitle" }, review.title) : null,
      long ? el("span", { class: "hint" }, "(long: click to read)") : null);
    return el("details", { class: `review-box ${cls}`, open: !long }, summary,
      el("p", { class: "text" }, review.text));
  }

  function itemBlock(item) {
    const long = item.description.length > LONG_TEXT;
    const description = !item.description ? null : long
      ? el("details", { class: "description" }, el("summary", {}, "Item description"),
        el("p", {}, item.description))
      : el("p", { class: "description" }, item.description);
    return el("div", { class: "item" }, el("h3", {}, "The item"),
      el("p", { class: "item-title" }, item.title), description);
  }

  function radio(name, value, checked, text) {
    return el("label", { class: "choice-label" },
      el("input", { type: "radio", name, value, checked }), ` ${text}`);
  }

  function featureBlock(feature, answer, index) {
    const valid = answer ? answer.valid : null;
    const reason = el("select", { class: "reason", "aria-label": `Why is "${feature.name}" not valid?`,
      required: true }, el("option", { value: "" }, "Choose a reason\u2026"),
    ...data.reasons.map((r) => el("option", { value: r.id }, r.text)));
    reason.value = answer && answer.reason ? answer.reason : "";
    const reasonRow = el("label", { class: "reason-row", hidden: valid !== false }, "Why not? ",
      reason);
    const legendId = `feature-${index}-q`;
    return el("li", { class: "feature", "data-feature-id": feature.feature_id },
      el("h4", {}, feature.name),
      el("dl", {}, el("dt", {}, "Definition"), el("dd", {}, feature.definition),
        el("dt", {}, "How this user differs"), el("dd", {}, feature.difference)),
      el("div", { class: "valid-row", role: "radiogroup", "aria-labelledby": legendId },
        el("span", { id: legendId, class: "question" },
          "A real difference of this user, supported by the reviews?"),
        radio(`valid-${feature.feature_id}`, "yes", valid === true, "Yes"),
        radio(`valid-${feature.feature_id}`, "no", valid === false, "No")),
      reasonRow);
  }

  function featureTask(task, label) {
    const answers = (label && label.features) || {};
    const rating = label ? label.set_rating : null;
    return [
      el("p", { class: "instructions" }, "Each feature below says how this user's review of "
        + "the item differs from other people's reviews of it. Read the reviews, then mark "
        + "each feature: is it a real difference in how this user writes, supported by the "
        + "reviews? If not, say why. Then rate the set as a whole."),
      itemBlock(task.item),
      el("div", { class: "reviews" },
        el("section", { class: "user-review" }, el("h3", {}, "This user's review"),
          reviewBox("This user", task.user_review, "user")),
        el("section", { class: "others" },
          el("h3", {}, `Other reviews of this item (${task.representative_reviews.length})`),
          ...task.representative_reviews.map((r) => reviewBox(r.label, r, "other")))),
      el("h3", {}, `Features (${task.features.length})`),
      el("ol", { class: "features" },
        ...task.features.map((f, i) => featureBlock(f, answers[f.feature_id], i))),
      el("fieldset", { class: "set-rating" },
        el("legend", {}, "How well do these features, together, capture what sets this user "
          + "apart from the other reviewers?"),
        el("div", { class: "scale" }, ...RATINGS.map(([value, text]) =>
          radio("set-rating", String(value), rating === value, `${value} \u2014 ${text}`)))),
    ];
  }

  function preferenceTask(task, label) {
    const choice = label ? label.choice : null;
    const button = (value, text, key) => el("button", {
      type: "button", class: "choice", "data-choice": value,
      "aria-pressed": choice === value ? "true" : "false", "aria-keyshortcuts": key,
    }, text);
    return [
      el("p", { class: "instructions" }, "Read this user's past reviews, then the two reviews "
        + "of the item below. Which one sounds more like this user wrote it? Judge the voice "
        + "and style, not which review is better written."),
      itemBlock(task.item),
      el("section", { class: "history" },
        el("h3", {}, `This user's past reviews (${task.history.length})`),
        ...task.history.map((r) => reviewBox(r.item_title, r, "past"))),
      el("div", { class: "pair" },
        ...["A", "B"].map((side) => el("article", {
          class: "review", "data-side": side, "data-chosen": choice === side || choice === "tie",
        },
          el("h3", {}, `Review ${side}`), el("p", { class: "text" }, task.reviews[side])))),
      el("div", { class: "choices", role: "group", "aria-label": "Which sounds like this user?" },
        button("A", "Review A", "a"), button("tie", "Tie / can't tell", "t"),
        button("B", "Review B", "b")),
    ];
  }

  function showTask() {
    const task = currentTask();
    const section = $("task");
    $("done").hidden = task !== null;
    section.hidden = task === null;
    if (task === null) {
      section.replaceChildren();
      section.removeAttribute("data-task-id");
      section.removeAttribute("data-type");
    } else {
      const label = state.labels[task.task_id];
      section.setAttribute("data-task-id", task.task_id);
      section.setAttribute("data-type", task.type);
      section.replaceChildren(
        el("h2", { id: "task-heading", tabindex: "-1" }, data.type_texts[task.type] || task.type,
          el("span", { class: "counter" }, ` \u00b7 task ${state.pos + 1} of ${state.order.length}`)),
        ...(task.type === "preference" ? preferenceTask(task, label) : featureTask(task, label)));
    }
    updateStatus();
  }

  function updateStatus() {
    const task = currentTask();
    const answered = answeredCount();
    const done = task === null;
    const progress = $("progress");
    progress.textContent = done
      ? `${answered} of ${tasks.length} answered`
      : `Task ${state.pos + 1} of ${state.order.length} \u00b7 ${answered} answered`;
    progress.setAttribute("data-position", String(state.pos + 1));
    progress.setAttribute("data-total", String(state.order.length));
    progress.setAttribute("data-answered", String(answered));
    $("progress-bar").max = tasks.length;
    $("progress-bar").value = answered;
    const ready = done || isAnswered(task, state.labels[task.task_id]);
    if (!done) $("task").setAttribute("data-answered", ready ? "true" : "false");
    $("prev").disabled = state.pos === 0;
    $("next").disabled = done || !ready;
    $("next").textContent = state.pos === state.order.length - 1 ? "Finish \u2192" : "Next \u2192";
    $("nav-hint").textContent = ready ? "" : "Answer every question to go on.";
  }

  // ------------------------------------------------------------ answering

  // Reads the shown feature task's answers back from its inputs.
  function readFeatureAnswers(task, label) {
    const section = $("task");
    label.features = {};
    for (const feature of task.features) {
      const box = [...section.querySelectorAll(".feature")]
        .find((node) => node.getAttribute("data-feature-id") === feature.feature_id);
      const picked = [...box.querySelectorAll("input[type=radio]")].find((input) => input.checked);
      const valid = picked ? picked.value === "yes" : null;
      const select = box.querySelector("select.reason");
      box.querySelector(".reason-row").hidden = valid !== false;
      if (valid !== false) select.value = "";
      label.features[feature.feature_id] = {
        valid, reason: valid === false && select.value ? select.value : null,
      };
    }
    const rating = section.querySelector("input[name=set-rating]:checked");
    label.set_rating = rating ? Number(rating.value) : null;
  }

  function changed(task, update) {
    const label = state.labels[task.task_id] || (state.labels[task.task_id] = {});
    update(label);
    label.answered_at = isAnswered(task, label) ? new Date().toISOString() : null;
    save();
    updateStatus();
  }

  function onInput(event) {
    const task = currentTask();
    if (!task || task.type !== "feature_validity") return;
    const wasNo = event.target.matches("input[value=no]") && event.target.checked;
    changed(task, (label) => readFeatureAnswers(task, label));
    if (wasNo) {
      const select = event.target.closest(".feature").querySelector("select.reason");
      if (!select.value) select.focus();
    }
  }

  function choose(value) {
    const task = currentTask();
    if (!task || task.type !== "preference") return;
    changed(task, (label) => { label.choice = value; });
    for (const button of $("task").querySelectorAll("button.choice")) {
      button.setAttribute("aria-pressed", button.getAttribute("data-choice") === value ? "true" : "false");
    }
    for (const review of $("task").querySelectorAll(".review")) {
      review.toggleAttribute("data-chosen", [review.getAttribute("data-side"), "tie"].includes(value));
    }
  }

  function rate(value) {
    const input = $("task").querySelector(`input[name=set-rating][value="${value}"]`);
    if (!input) return;
    input.checked = true;
    onInput({ target: input });
  }

  function go(pos) {
    state.pos = Math.max(0, Math.min(pos, state.order.length));
    showTask();
    window.scrollTo(0, 0);
    const heading = state.pos < state.order.length ? $("task-heading") : $("done-heading");
    heading.focus({ preventScroll: true });
  }

  function next() {
    if (!$("next").disabled) go(state.pos + 1);
  }

  function prev() {
    if (!$("prev").disabled) go(state.pos - 1);
  }

  function onKey(event) {
    if (!state.annotator || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const inField = target.matches && target.matches("select, textarea, input:not([type=radio])");
    if (inField) return;
    const onRadio = target.matches && target.matches("input[type=radio]");
    const task = currentTask();
    const key = event.key;
    let handled = true;
    if (key === "n" || (key === "ArrowRight" && !onRadio)) next();
    else if (key === "p" || (key === "ArrowLeft" && !onRadio)) prev();
    else if (task && task.type === "preference" && (key === "a" || key === "b" || key === "t")) {
      choose(key === "t" ? "tie" : key.toUpperCase());
    } else if (task && task.type === "feature_validity" && /^[1-5]$/.test(key)) rate(key);
    else handled = false;
    if (handled) event.preventDefault();
  }

  // ------------------------------------------------------------ annotator

  function showLogin() {
    state.annotator = null;
    for (const id of ["task", "done", "nav", "toolbar"]) $(id).hidden = true;
    $("login").hidden = false;
    let last = "";
    try {
      last = STORAGE ? localStorage.getItem(LAST_KEY) || "" : "";
    } catch (err) {
      last = "";
    }
    const input = $("annotator-name");
    input.value = NAME_RE.test(last) ? last : "";
    (input.value ? $("start") : input).focus();
  }

  function start(event) {
    event.preventDefault();
    const input = $("annotator-name");
    const name = input.value.trim();
    if (!NAME_RE.test(name)) {
      input.setAttribute("aria-invalid", "true");
      $("name-error").textContent = "Use 1 to 64 letters, digits, '_', '.' or '-' (no spaces).";
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    $("name-error").textContent = "";
    state.annotator = name;
    state.order = taskOrder(name);
    state.labels = loadLabels(name);
    save();
    $("login").hidden = true;
    for (const id of ["nav", "toolbar"]) $(id).hidden = false;
    $("who").textContent = `Annotator: ${name}`;
    $("export-status").textContent = "";
    const first = state.order.findIndex((id) => !isAnswered(tasksById.get(id), state.labels[id]));
    go(first === -1 ? state.order.length : first);
  }

  // ------------------------------------------------------------ wiring

  $("storage-warning").hidden = STORAGE;
  $("login").addEventListener("submit", start);
  $("task").addEventListener("change", onInput);
  $("task").addEventListener("click", (event) => {
    const button = event.target.closest("button.choice");
    if (button) choose(button.getAttribute("data-choice"));
  });
  $("next").addEventListener("click", next);
  $("prev").addEventListener("click", prev);
  $("export").addEventListener("click", exportFile);
  $("switch").addEventListener("click", () => { save(); showLogin(); });
  document.addEventListener("keydown", onKey);
  const intro = el("p", { class: "count" },
    `This study has ${tasks.length} task${tasks.length === 1 ? "" : "s"}.`);
  $("login").querySelector("h2").after(intro);
  showLogin();
})();
