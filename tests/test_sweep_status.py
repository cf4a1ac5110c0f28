"""Sweep exit status: summary of a multirun's jobs, exit code, one folder per job."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from drp_bench.config.resolvers import MAX_DIRNAME_BYTES, safe_dirname
from drp_bench.report.collect import find_run_dirs, missing_jobs, read_run
from drp_bench.resources import config_dir
from drp_bench.run import sweep_status
from drp_bench.run.sweep_status import (
    SweepStatusCallback,
    collect,
    finish_sweep,
    format_summary,
    start_sweep,
    sweep_exit_code,
)
from tests.run_folders import write_error, write_metrics
from tests.servers import free_port

DRP_BENCH = Path(sys.executable).with_name("drp-bench")


# ---------------------------------------------------------------- hand-made job folders


def make_job(
    sweep: Path,
    folder: str,
    overrides: list[str],
    status: str | None = None,
    reason: str = "",
    error: str | None = None,
    interrupted: bool = False,
) -> Path:
    """A job folder as Hydra and drp-bench write it: metrics.json with ``status`` (and
    ``reason`` when degraded), error.json with ``error``, or neither."""
    job = sweep / folder
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "config.yaml").write_text("method:\n  name: nonp\n")
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if status is not None:
        write_metrics(job, status, reason)
    if error is not None:
        write_error(job, error, interrupted)
    return job


DEGRADED = "5 of 8 calls failed (extract 3, generate 2)"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A sweep with one job of each kind, numbered so that text order is not job order."""
    root = tmp_path / "sweep"
    make_job(root, "0_method=nonp", ["method=nonp"], status="complete")
    make_job(root, "1_method=rag", ["method=rag"], status="degraded", reason=DEGRADED)
    make_job(
        root,
        "2_dataset.path=%2Fnonexistent",
        ["dataset.path=/nonexistent"],
        error="FileNotFoundError: /nonexistent: no such file\nTraceback ...",
    )
    make_job(
        root,
        "3_method=dpl",
        ["method=dpl"],
        error="interrupted by SIGTERM",
        interrupted=True,
    )
    make_job(root, "10_method=drp", ["method=drp"])  # neither file: killed, or still running
    (root / "multirun.yaml").write_text("hydra: {}\n")
    (root / ".submitit" / "123").mkdir(parents=True)  # submitit's folder holds no job
    return root


def test_collect_classifies_each_job_from_its_files(sweep):
    status = collect(sweep)
    got = [(j.folder, j.status) for j in status.jobs]
    assert got == [
        ("0_method=nonp", "complete"),
        ("1_method=rag", "degraded"),
        ("2_dataset.path=%2Fnonexistent", "failed"),
        ("3_method=dpl", "interrupted"),
        ("10_method=drp", "interrupted"),
    ]
    reasons = {j.folder: j.reason for j in status.jobs}
    assert reasons["0_method=nonp"] == ""
    assert reasons["1_method=rag"] == DEGRADED
    assert reasons["2_dataset.path=%2Fnonexistent"] == (
        "FileNotFoundError: /nonexistent: no such file"
    )
    assert reasons["3_method=dpl"] == "interrupted by SIGTERM"
    assert reasons["10_method=drp"].startswith("no metrics.json or error.json (killed before")
    assert status.jobs[2].overrides == ["dataset.path=/nonexistent"]
    assert status.counts == {"complete": 1, "degraded": 1, "failed": 1, "interrupted": 2}


def test_summary_counts_jobs_and_names_every_job_that_is_not_complete(sweep):
    lines = format_summary(collect(sweep)).splitlines()
    assert lines[0] == "Sweep ended: 5 jobs: 1 complete, 1 degraded, 1 failed, 2 interrupted"
    assert lines[1] == f"  DEGRADED     {sweep / '1_method=rag'}: {DEGRADED}"
    assert lines[2] == (
        f"  FAILED       {sweep / '2_dataset.path=%2Fnonexistent'}: "
        "FileNotFoundError: /nonexistent: no such file"
    )
    assert lines[3] == f"  INTERRUPTED  {sweep / '3_method=dpl'}: interrupted by SIGTERM"
    assert len(lines) == 1 + 4 + 2  # head, 4 problems, status file, exit status
    assert lines[-2] == f"Sweep status: {sweep / 'sweep_status.json'}"
    assert lines[-1] == "Exit status 1: 4 of 5 jobs not complete (sweep_exit=zero to exit 0 anyway)"


def test_exit_code_is_1_for_any_problem_unless_the_policy_is_zero(tmp_path, sweep):
    assert collect(sweep).exit_code == 1
    assert collect(sweep, exit_policy="zero").exit_code == 0
    ok = tmp_path / "ok"
    make_job(ok, "0_a=1", ["a=1"], status="complete")
    assert collect(ok).exit_code == 0
    degraded_only = tmp_path / "degraded"
    make_job(degraded_only, "0_a=1", ["a=1"], status="degraded")
    assert collect(degraded_only).exit_code == 1
    assert collect(tmp_path / "empty").jobs == []


def test_a_metrics_json_older_than_error_json_is_a_failed_rerun(tmp_path):
    job = make_job(tmp_path, "0_a=1", ["a=1"], status="complete", error="ValueError: bad")
    old = time.time() - 60
    os.utime(job / "metrics.json", (old, old))
    [only] = collect(tmp_path).jobs
    assert only.status == "failed"
    assert only.reason == (
        "ValueError: bad (error.json is newer than metrics.json: the last attempt did not finish)"
    )


def test_unreadable_or_unknown_metrics_json_is_failed_with_the_reason(tmp_path):
    bad = make_job(tmp_path, "0_a=1", ["a=1"])
    (bad / "metrics.json").write_text("{not json")
    odd = make_job(tmp_path, "1_a=2", ["a=2"], status="complete")
    record = json.loads((odd / "metrics.json").read_text())
    (odd / "metrics.json").write_text(json.dumps(record | {"status": "weird"}))
    jobs = collect(tmp_path).jobs
    assert [j.status for j in jobs] == ["failed", "failed"]
    assert jobs[0].reason.startswith(f"{bad / 'metrics.json'}:1: malformed JSON")
    assert jobs[1].reason == (
        f"{odd / 'metrics.json'}: field 'status': expected 'complete' or 'degraded', found 'weird'"
    )


def test_dead_jobs_of_a_launcher_get_its_reason_with_or_without_a_folder(tmp_path):
    root = tmp_path / "sweep"
    make_job(root, "0_a=1", ["a=1"])  # died after Hydra made its folder
    dead = {("a=1",): "job process died: timeout", ("a=2",): "job process died: OOM"}
    status = collect(root, dead=dead)
    assert [(j.folder, j.status, j.reason) for j in status.jobs] == [
        ("0_a=1", "interrupted", "job process died: timeout"),
        ("", "interrupted", "job process died: OOM"),
    ]
    assert "  INTERRUPTED  (no folder) a=2: job process died: OOM" in format_summary(status)


def _sweep_config(sweep_dir: Path, policy: str = "strict"):
    return OmegaConf.create({"sweep_exit": policy, "hydra": {"sweep": {"dir": str(sweep_dir)}}})


def test_callback_prints_writes_the_status_file_and_records_the_verdict(sweep, capsys):
    sweep_status.reset()
    callback = SweepStatusCallback()
    callback.on_multirun_start(config=_sweep_config(sweep))
    callback.on_multirun_end(config=_sweep_config(sweep))
    out = capsys.readouterr().out
    assert out.startswith("Sweep ended: 5 jobs: 1 complete, 1 degraded, 1 failed, 2 interrupted\n")
    saved = json.loads((sweep / "sweep_status.json").read_text())
    assert saved["counts"] == {"complete": 1, "degraded": 1, "failed": 1, "interrupted": 2}
    assert saved["exit_code"] == 1 and saved["exit_policy"] == "strict"
    assert saved["jobs"][2] == {
        "folder": "2_dataset.path=%2Fnonexistent",
        "status": "failed",
        "reason": "FileNotFoundError: /nonexistent: no such file",
        "overrides": ["dataset.path=/nonexistent"],
    }
    assert sweep_exit_code() == 1
    finish_sweep(_sweep_config(sweep, "zero"))
    assert sweep_exit_code() == 0


def test_a_sweep_without_verdict_is_summarized_afterwards_and_exits_1(sweep, capsys):
    sweep_status.reset()
    assert sweep_exit_code("the launcher stopped") is None  # no multirun: the caller decides
    start_sweep(_sweep_config(sweep, "zero"))
    assert sweep_exit_code("the launcher or sweeper stopped with an error") == 1
    out = capsys.readouterr().out
    assert out.startswith("Sweep broke off (the launcher or sweeper stopped with an error): 5 jobs")
    assert "Exit status" not in out  # the error (or interrupt) decides the process's status
    assert json.loads((sweep / "sweep_status.json").read_text())["note"]
    # the callback failed (Hydra only warns) and Hydra returned normally: still 1
    start_sweep(_sweep_config(sweep, "zero"))
    assert sweep_exit_code() == 1
    assert "Sweep broke off (no summary was made at its end)" in capsys.readouterr().out


def test_an_unknown_exit_policy_stops_the_sweep_before_it_starts(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        SweepStatusCallback().on_multirun_start(config=_sweep_config(tmp_path, "lenient"))
    assert stop.value.code == 2
    assert "sweep_exit: expected one of strict, zero, found 'lenient'" in capsys.readouterr().err


# ---------------------------------------------------------------- folder names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dataset.path=/nonexistent", "dataset.path=%2Fnonexistent"),
        ("dataset.path=C:\\data\\x,method=nonp", "dataset.path=C:%5Cdata%5Cx,method=nonp"),
        (r"dataset.path=bundled\:music_sample", "dataset.path=bundled:music_sample"),
        (r"dataset.path=C\:\\data\\x", "dataset.path=C:%5Cdata%5Cx"),  # Hydra-escaped
        (r"prompts.system=a\ b\,c\=d\(e\)", "prompts.system=a b,c=d(e)"),
        ("a=b\x00c", "a=b%00c"),
        ("a=line\nbreak", "a=line%0Abreak"),
        ("..", "%2E."),
        (".hidden=1", "%2Ehidden=1"),
        ("a=50%", "a=50%25"),
        ("a=x.y,b=[1,2]", "a=x.y,b=[1,2]"),
        ("", ""),
        (3, "3"),
    ],
)
def test_safe_dirname_makes_one_folder_name(name, expected):
    assert safe_dirname(name) == expected


def test_safe_dirname_keeps_distinct_names_distinct():
    assert safe_dirname("a=/") != safe_dirname("a=%2F")


@pytest.mark.parametrize("unit", ["x", "/", "é", "音"])
def test_long_names_are_cut_to_the_limit_with_a_hash(unit):
    long_a = "dataset.path=" + unit * 400 + "a"
    long_b = "dataset.path=" + unit * 400 + "b"
    a, b = safe_dirname(long_a), safe_dirname(long_b)
    assert a != b
    for name in (a, b):
        assert len(name.encode()) <= MAX_DIRNAME_BYTES
        assert "/" not in name and name.startswith("dataset.path=")
        assert name[-11] == "~" and int(name[-10:], 16) >= 0
        assert "%~" not in name and not name[:-11].endswith(("%2", "%"))
    assert safe_dirname(long_a) == a  # stable across calls


def test_resolver_is_registered_and_takes_interpolated_values():
    cfg = OmegaConf.create({"x": "", "y": "${drp_safe_dirname:${x}}"})
    cfg.x = "dataset.path=/a/b,prompts.system='say, \\${hello}'"
    assert cfg.y == "dataset.path=%2Fa%2Fb,prompts.system='say, ${hello}'"


def _subdir(*overrides: str) -> str:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    cfg.hydra.job.num = 4
    return cfg.hydra.sweep.subdir


def test_sweep_subdir_of_a_path_override_is_one_folder():
    assert _subdir("dataset.path=/nonexistent/x", "method=nonp", "sweep_exit=zero") == (
        "4_dataset.path=%2Fnonexistent%2Fx,method=nonp"
    )
    assert _subdir("dataset.path='C:\\data\\x'", "prompts.system='a, b'") == (
        "4_dataset.path='C:%5Cdata%5Cx',prompts.system='a, b'"  # Hydra keeps the quotes
    )
    assert _subdir("dataset.path=bundled:music_sample") == "4_dataset.path=bundled:music_sample"
    long = _subdir("prompts.system=" + "x" * 500)
    assert len(long) == len("4_") + MAX_DIRNAME_BYTES and long.startswith("4_prompts.system=x")


def test_sweep_config_has_the_callback_and_exit_policy():
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("config", overrides=["sweep_exit=zero"], return_hydra_config=True)
    assert cfg.sweep_exit == "zero"
    assert "sweep_status" in cfg.hydra.callbacks


# ---------------------------------------------------------------- real sweeps


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One call cache for this module's sweeps (not the user's)."""
    return tmp_path_factory.mktemp("cache") / "calls.sqlite"


def _drp_bench_run(*args: str, cache: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRP_BENCH_CACHE": str(cache)}
    return subprocess.run(
        [str(DRP_BENCH), "run", "-m", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _job_folders(sweep: Path) -> list[str]:
    return sorted(str(p.relative_to(sweep)) for p in find_run_dirs(sweep))


def _report_runs(sweep: Path) -> dict[str, str]:
    """``drp-bench report``'s view: overrides -> status, missing jobs included."""
    runs = [read_run(d) for d in find_run_dirs(sweep)]
    missing, note = missing_jobs(sweep, runs)
    assert note == ""
    return {" ".join(r.overrides): r.status for r in [*runs, *missing]}


FAILING = ["method=nonp", "dataset.limit=1"]


def test_sweep_of_failing_jobs_exits_1_names_them_and_keeps_one_folder_each(tmp_path, cache):
    sweep = tmp_path / "sweep"
    proc = _drp_bench_run(
        "dataset.path=/nonexistent/deep,/also/missing",
        *FAILING,
        f"hydra.sweep.dir={sweep}",
        cache=cache,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    first = "0_dataset.limit=1,dataset.path=%2Fnonexistent%2Fdeep,method=nonp"
    second = "1_dataset.limit=1,dataset.path=%2Falso%2Fmissing,method=nonp"
    assert _job_folders(sweep) == [first, second]
    assert {p.name for p in sweep.iterdir() if p.is_dir() and p.name[0] != "."} == {first, second}
    assert "Sweep ended: 2 jobs: 0 complete, 0 degraded, 2 failed, 0 interrupted" in proc.stdout
    assert f"  FAILED       {sweep / first}: " in proc.stdout
    assert "/nonexistent/deep" in proc.stdout.split(f"{sweep / first}: ", 1)[1].splitlines()[0]
    saved = json.loads((sweep / "sweep_status.json").read_text())
    assert saved["exit_code"] == 1 and [j["folder"] for j in saved["jobs"]] == [first, second]
    assert _report_runs(sweep) == {
        "dataset.path=/nonexistent/deep method=nonp dataset.limit=1": "failed",
        "dataset.path=/also/missing method=nonp dataset.limit=1": "failed",
    }


def test_sweep_exit_zero_exits_0_with_the_same_summary(tmp_path, cache):
    sweep = tmp_path / "sweep"
    proc = _drp_bench_run(
        "dataset.path=/nonexistent,/also/missing",
        *FAILING,
        "sweep_exit=zero",
        f"hydra.sweep.dir={sweep}",
        cache=cache,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Sweep ended: 2 jobs: 0 complete, 0 degraded, 2 failed, 0 interrupted" in proc.stdout
    assert "Exit status 0 (sweep_exit=zero), although 2 of 2 jobs are not complete" in proc.stdout
    assert all("sweep_exit" not in f for f in _job_folders(sweep))


def test_an_unknown_sweep_exit_value_fails_before_any_job(tmp_path, cache):
    sweep = tmp_path / "sweep"
    proc = _drp_bench_run(
        "dataset.path=/a,/b", *FAILING, "sweep_exit=maybe", f"hydra.sweep.dir={sweep}", cache=cache
    )
    assert proc.returncode == 2
    assert "sweep_exit: expected one of strict, zero, found 'maybe'" in proc.stderr
    assert not sweep.exists() or _job_folders(sweep) == []


class _StubChat(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint answering every request with the same short review."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {
                "id": "stub",
                "object": "chat.completion",
                "created": 0,
                "model": "stub",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "A warm, lovely album."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def stub_url():
    """Base URL of a stub OpenAI-compatible server (so no model runs in these sweeps)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubChat)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "slurm_gpu_local": ["hydra/launcher=slurm_gpu_local", "hydra.launcher.timeout_min=10"],
}


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_sweep_of_failed_degraded_and_complete_jobs_through_each_launcher(
    tmp_path, cache, stub_url, launcher
):
    """Bad data path: failed; generator on the stub: complete; on a dead port: degraded."""
    sweep, dead_url = tmp_path / "sweep", f"http://127.0.0.1:{free_port()}/v1"
    proc = _drp_bench_run(
        "dataset.path=/nonexistent,bundled:music_sample",
        f"+generator.backend.options.base_url={stub_url},{dead_url}",
        "generator.backend.kind=openai",
        "+generator.backend.options.max_retries=0",
        *FAILING,
        f"hydra.sweep.dir={sweep}",
        *LAUNCHERS[launcher],
        cache=cache,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Sweep ended: 4 jobs: 1 complete, 1 degraded, 2 failed, 0 interrupted" in proc.stdout
    saved = json.loads((sweep / "sweep_status.json").read_text())
    by_folder = {job["folder"]: job for job in saved["jobs"]}
    assert sorted(by_folder) == _job_folders(sweep)  # every job, each one folder deep
    assert all("/" not in folder for folder in by_folder)
    for folder, job in by_folder.items():
        line = f"  {job['status'].upper():<11}  {sweep / folder}: {job['reason']}"
        assert (line in proc.stdout.splitlines()) == (job["status"] != "complete")

    def status_of(path: str, url: str) -> str:
        """Status of the job with these values (overrides.yaml holds them Hydra-escaped)."""
        wanted = {f"dataset.path={path}", f"+generator.backend.options.base_url={url}"}
        unescaped = [{o.replace("\\", "") for o in j["overrides"]} for j in saved["jobs"]]
        [job] = [j for j, ov in zip(saved["jobs"], unescaped, strict=True) if wanted <= ov]
        return job["status"]

    assert status_of("/nonexistent", stub_url) == status_of("/nonexistent", dead_url) == "failed"
    assert status_of("bundled:music_sample", stub_url) == "complete"
    assert status_of("bundled:music_sample", dead_url) == "degraded"
    # `drp-bench report` finds the same four jobs (it matches them by .hydra/overrides.yaml)
    report = _report_runs(sweep)
    assert sorted(report.values()) == ["complete", "degraded", "failed", "failed"]


@pytest.mark.slow
def test_a_job_the_launcher_kills_is_named_and_the_exit_policy_still_applies(tmp_path, cache):
    """slurm_gpu_local kills a job that hangs past timeout_min=1 (about 80 s in all): the
    launcher raises, yet the summary names the job and sweep_exit=zero exits 0."""
    sweep = tmp_path / "sweep"
    with socket.socket() as hang:
        hang.bind(("127.0.0.1", 0))
        hang.listen(8)  # takes connections, never answers
        proc = _drp_bench_run(
            "dataset.path=/nonexistent,bundled:music_sample",
            "generator.backend.kind=openai",
            f"+generator.backend.options.base_url=http://127.0.0.1:{hang.getsockname()[1]}/v1",
            *FAILING,
            "hydra/launcher=slurm_gpu_local",
            "hydra.launcher.timeout_min=1",
            "sweep_exit=zero",
            f"hydra.sweep.dir={sweep}",
            cache=cache,
            timeout=400,
        )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "RuntimeError: 1 of 2 sweep jobs did not finish" in proc.stderr
    assert "Sweep ended: 2 jobs: 0 complete, 0 degraded, 1 failed, 1 interrupted" in proc.stdout
    killed = json.loads((sweep / "sweep_status.json").read_text())["jobs"][1]
    assert killed["folder"].startswith("1_") and killed["status"] == "interrupted"
    assert killed["reason"].startswith(("interrupted by ", "job process died: "))
    assert f"  INTERRUPTED  {sweep / killed['folder']}: {killed['reason']}" in proc.stdout
