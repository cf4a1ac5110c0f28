"""The registries other packages extend through entry points (docs/extending.md): a plugin is
found through its distribution's metadata, loaded on first use, and can neither replace a
built-in nor fail silently.

Each test writes a small distribution (``NAME.dist-info`` with ``entry_points.txt`` and its
module) into a folder put on ``sys.path``: importlib.metadata finds it as it finds an
installed package.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from drp_bench import plugins
from drp_bench.backends.registry import BACKENDS, backend_class, backends
from drp_bench.methods.contracts import STAGE_KINDS, stage_kinds
from drp_bench.metrics.table import ALL_METRICS, all_metric_keys, metric_info, plugin_metrics
from drp_bench.pipeline.kinds import kinds, plugin_template_dirs
from drp_bench.pipeline.prompts import PromptRenderer

REPO = Path(__file__).resolve().parents[1]

KIND_MODULE = """
from pathlib import Path
from drp_bench.methods.contracts import REVIEWS, TEXT, Slot, StageKind
from drp_bench.pipeline.kinds.base import KindPlugin
from drp_bench.pipeline.kinds.history import SummarizeHistory

def plugin(name, templates=None):
    return KindPlugin(
        StageKind(name, record="summarize", reads={"history": Slot(REVIEWS)}, writes=TEXT,
                  doc="a test kind"),
        SummarizeHistory(),
        templates,
    )
"""


def write_dist(root: Path, dist: str, entry_points: dict[str, dict[str, str]], code: str) -> None:
    """A distribution ``dist`` 1.0 in ``root``: module ``<dist>_mod`` holding ``code``."""
    module = dist.replace("-", "_") + "_mod"
    (root / f"{module}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value.replace('MOD', module)}" for name, value in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for test distributions; the registries forget them afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.reset()
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
    monkeypatch.undo()
    plugins.reset()


def test_without_plugins_the_registries_are_the_builtins(site: Path) -> None:
    assert stage_kinds() == STAGE_KINDS
    assert set(kinds()) == set(STAGE_KINDS)
    assert backends() == BACKENDS
    assert plugin_metrics() == () and all_metric_keys() == tuple(m.key for m in ALL_METRICS)
    assert plugin_template_dirs() == []


def test_a_plugin_kind_metric_and_backend_join_the_registries(site: Path) -> None:
    templates = site / "templates"
    templates.mkdir()
    (templates / "mine.j2").write_text("{{ history | length }} reviews")
    code = KIND_MODULE + textwrap.dedent(f"""
        from drp_bench.metrics.table import MetricInfo
        KIND = plugin("summarize_mine", Path({str(templates)!r}))
        METRIC = MetricInfo("chars", "Chars", "characters", in_paper=False,
                            per_sample=lambda p, r: float(len(p)))
        class Backend:
            pass
    """)
    write_dist(
        site,
        "good-plugin",
        {
            plugins.KINDS_GROUP: {"summarize_mine": "MOD:KIND"},
            plugins.METRICS_GROUP: {"chars": "MOD:METRIC"},
            plugins.BACKENDS_GROUP: {"mine": "MOD:Backend"},
        },
        code,
    )
    assert list(stage_kinds())[: len(STAGE_KINDS)] == list(STAGE_KINDS)  # built-ins first
    assert stage_kinds()["summarize_mine"].record == "summarize"
    assert kinds()["summarize_mine"].__class__.__name__ == "SummarizeHistory"
    assert metric_info("chars").aggregation == "mean"
    assert all_metric_keys()[-1] == "chars"
    assert list(backends())[-1] == "mine" and backend_class("mine").__name__ == "Backend"
    # the plugin's templates come after the package's
    renderer = PromptRenderer()
    assert renderer.render("mine", history=[1, 2]) == "2 reviews"
    assert renderer.has_template("generate")

    from drp_bench.metrics.text import per_sample_scores, plugin_scores

    assert plugin_scores(["abc", "abcde"], ["x", "y"]) == {"chars": 4.0}
    assert [s["chars"] for s in per_sample_scores(["abc", "abcde"], ["x", "y"])] == [3.0, 5.0]


def test_a_plugin_may_not_replace_a_builtin_kind(site: Path) -> None:
    write_dist(site, "bad-plugin", {plugins.KINDS_GROUP: {"peer": "MOD:KIND"}}, KIND_MODULE)
    with pytest.raises(plugins.PluginError) as err:
        stage_kinds()
    message = str(err.value)
    assert "'peer = bad_plugin_mod:KIND'" in message and "bad-plugin 1.0" in message
    assert "would replace the built-in stage kind 'peer'" in message


@pytest.mark.parametrize(
    ("group", "name", "registry"),
    [
        (plugins.METRICS_GROUP, "bleu", plugin_metrics),
        (plugins.METRICS_GROUP, "rouge1_mean", plugin_metrics),  # a key metrics.json has
        (plugins.METRICS_GROUP, "n", plugin_metrics),
        (plugins.BACKENDS_GROUP, "openai", backends),
    ],
)
def test_a_plugin_may_not_replace_a_builtin_metric_or_backend(site, group, name, registry):
    write_dist(site, "bad-plugin", {group: {name: "MOD:X"}}, "X = None\n")
    with pytest.raises(plugins.PluginError, match=f"'{name} = bad_plugin_mod:X'.*bad-plugin 1.0"):
        registry()


def test_two_plugins_with_one_name_are_an_error_naming_both(site: Path) -> None:
    for dist in ("first-plugin", "second-plugin"):
        write_dist(site, dist, {plugins.BACKENDS_GROUP: {"same": "MOD:X"}}, "X = None\n")
    with pytest.raises(plugins.PluginError) as err:
        backends()
    assert "first-plugin 1.0" in str(err.value) and "second-plugin 1.0" in str(err.value)


def test_a_plugin_that_fails_to_import_is_a_one_line_error(site: Path) -> None:
    code = "raise ImportError('needs the package frobnicate,\\n which is missing')\n"
    write_dist(site, "broken-plugin", {plugins.METRICS_GROUP: {"broken": "MOD:METRIC"}}, code)
    with pytest.raises(plugins.PluginError) as err:
        all_metric_keys()
    message = str(err.value)
    assert "\n" not in message
    assert "'broken = broken_plugin_mod:METRIC'" in message and "broken-plugin 1.0" in message
    assert "ImportError: needs the package frobnicate, which is missing" in message


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("KIND = plugin('other_name')", "the entry point's name must be the kind's name"),
        ("KIND = object()", "expected a KindPlugin"),
    ],
)
def test_a_malformed_plugin_kind_says_what_is_wrong(site: Path, code: str, expected: str) -> None:
    write_dist(site, "odd-plugin", {plugins.KINDS_GROUP: {"mine": "MOD:KIND"}}, KIND_MODULE + code)
    with pytest.raises(plugins.PluginError, match=expected):
        kinds()


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ("MetricInfo('m', 'M', '0-1', in_paper=False)", "neither how to compute"),
        ("MetricInfo('m', 'M', '0-1', per_sample=len)", "in_paper must be false"),
        ("MetricInfo('other', 'M', '0-1', in_paper=False, per_sample=len)", "must be the metric"),
    ],
)
def test_a_malformed_plugin_metric_says_what_is_wrong(site: Path, info: str, expected: str) -> None:
    code = f"from drp_bench.metrics.table import MetricInfo\nMETRIC = {info}\n"
    write_dist(site, "odd-plugin", {plugins.METRICS_GROUP: {"m": "MOD:METRIC"}}, code)
    with pytest.raises(plugins.PluginError, match=expected):
        plugin_metrics()


def test_a_plugin_template_may_not_shadow_the_packages(site: Path) -> None:
    templates = site / "templates"
    templates.mkdir()
    (templates / "generate.j2").write_text("mine")
    code = KIND_MODULE + f"KIND = plugin('mine', Path({str(templates)!r}))\n"
    write_dist(site, "odd-plugin", {plugins.KINDS_GROUP: {"mine": "MOD:KIND"}}, code)
    with pytest.raises(plugins.PluginError, match=r"templates \['generate.j2'\] would replace"):
        PromptRenderer()


def test_plugins_load_on_first_use_once(tmp_path: Path) -> None:
    """Importing the package and its registries imports no plugin; the first lookup does,
    once; listing backends imports none of them."""
    code = KIND_MODULE + textwrap.dedent("""
        import drp_bench
        drp_bench.loads = getattr(drp_bench, "loads", 0) + 1
        KIND = plugin("summarize_mine")
    """)
    write_dist(tmp_path, "lazy-plugin", {plugins.KINDS_GROUP: {"summarize_mine": "MOD:KIND"}}, code)
    backend = {plugins.BACKENDS_GROUP: {"lazy": "MOD:Backend"}}
    write_dist(tmp_path, "lazy-backend", backend, "class Backend: ...\n")
    script = textwrap.dedent("""
        import sys
        import drp_bench
        import drp_bench.backends.registry as b, drp_bench.methods.contracts as c
        import drp_bench.metrics.table, drp_bench.pipeline.kinds as k
        mods = lambda: sorted(m for m in sys.modules if m.endswith("_mod"))
        print(mods())
        print("lazy" in b.backends(), mods())
        c.stage_kinds(); k.kinds(); c.stage_kinds()
        print(mods(), drp_bench.loads)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert out == ["[]", "True []", "['lazy_plugin_mod'] 1"]
