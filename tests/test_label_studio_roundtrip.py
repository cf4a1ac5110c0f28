"""Label Studio round trip against the real server (issue 19).

Label Studio cannot be installed beside the project's lock (requirements/label-studio.in
says why), so it lives in its own venv, made by ``make label-studio`` (.venv-label-studio,
or the venv that DRP_BENCH_LABEL_STUDIO_VENV names); without it this test skips.

The test writes the study's Label Studio folder, starts Label Studio on SQLite in a temporary
data folder on a free localhost port with two users, creates a project with our config.xml and
imports tasks.json through the SDK (tests/label_studio_client.py, run by that venv's Python),
posts each user's annotations (one of them skipped), exports JSON through the API, and
``read_export`` gives back exactly the labels posted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from drp_bench.annotate.formats import read_keys, read_manifest, read_tasks
from drp_bench.annotate.label_studio import read_export, write_label_studio
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "label_studio"
LS_VENV = Path(os.environ.get("DRP_BENCH_LABEL_STUDIO_VENV") or ROOT / ".venv-label-studio")
LS_PYTHON = LS_VENV / "bin" / "python"
LS_COMMAND = LS_VENV / "bin" / "label-studio"

#: Two annotators: (email, password, legacy API token).
USERS = {
    "alice": ("alice@study.local", "alice-pass-1234", "drpbenchtokenalice0001"),
    "bob": ("bob@study.local", "bob-pass-123456", "drpbenchtokenbob000002"),
}

#: What each annotator answers, in our terms: features {id: (valid, reason)} + set rating,
#: or a choice. "skip": the annotation is posted as cancelled (skipped in Label Studio).
ANSWERS: dict[str, dict[str, Any]] = {
    "alice": {
        "t0002": {
            "features": {
                "f1": (True, None),
                "f2": (False, "unsupported"),
                "f3": (False, "not_a_difference"),
            },
            "set_rating": 4,
        },
        "t0001": {"choice": "A"},
        "t0004": {"features": {"f1": (True, None)}, "set_rating": 5},
        "t0003": {"choice": "tie"},
    },
    "bob": {
        "t0002": {
            "features": {
                "f1": (False, "content_not_style"),
                "f2": (True, None),
                "f3": (False, "unclear"),
            },
            "set_rating": 2,
        },
        "t0001": {"choice": "B"},
        "t0004": "skip",
        "t0003": {"choice": "A"},
    },
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (LS_COMMAND.exists() and LS_PYTHON.exists()),
        reason=f"Label Studio is not installed in {LS_VENV}: run `make label-studio`",
    ),
]


def _result(data: dict[str, Any], answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The Label Studio result items that answer one task, as the labeling UI makes them."""

    def item(control: str, to_name: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"from_name": control, "to_name": to_name, "type": kind, "value": value,
                "origin": "manual"}  # fmt: skip

    if "choice" in answer:
        return [item("choice_0", "review_a_0", "choices", {"choices": [answer["choice"]]})]
    out = []
    for i, feature in enumerate(data["features"]):
        valid, reason = answer["features"][feature["feature_id"]]
        to_name = f"feature_name_{i}"
        out.append(item(f"valid_{i}", to_name, "choices",
                        {"choices": ["valid" if valid else "invalid"]}))  # fmt: skip
        if reason is not None:
            out.append(item(f"reason_{i}", to_name, "choices", {"choices": [reason]}))
    out.append(item("set_rating_0", "user_review_0", "rating", {"rating": answer["set_rating"]}))
    return out


def _expected(answers: dict[str, Any]) -> list[dict[str, Any]]:
    """The labels of our format (without answered_at) for one annotator's answers."""
    labels = []
    for task_id, answer in sorted(answers.items()):
        if answer == "skip":
            continue
        if "choice" in answer:
            labels.append({"task_id": task_id, "choice": answer["choice"]})
            continue
        features = [{"feature_id": fid, "valid": valid, "reason": reason}
                    for fid, (valid, reason) in answer["features"].items()]  # fmt: skip
        labels.append({"task_id": task_id, "features": features,
                       "set_rating": answer["set_rating"]})  # fmt: skip
    return labels


def _ls_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        DJANGO_DB="sqlite",
        LATEST_VERSION_CHECK="false",  # no call to PyPI at start
        COLLECT_ANALYTICS="false",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
    )
    return env


def _init_user(name: str, env: dict[str, str], log: Path) -> None:
    email, password, token = USERS[name]
    cmd = [str(LS_COMMAND), "init", "--username", email, "--password", password,
           "--user-token", token, "--enable-legacy-api-token"]  # fmt: skip
    with log.open("ab") as out:
        subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=300)


@pytest.fixture
def label_studio(tmp_path: Path) -> Iterator[str]:
    """A Label Studio server with the two users; yields its URL."""
    env, log = _ls_env(tmp_path / "ls-data"), tmp_path / "label-studio.log"
    start = time.monotonic()
    for name in USERS:  # the first one migrates the SQLite database
        _init_user(name, env, log)
    init_s = time.monotonic() - start
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(LS_COMMAND), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
           "--internal-host", "127.0.0.1"]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        start_s = _wait_for_health(url, proc, log)
        print(f"label studio: init (migrations, 2 users) {init_s:.1f} s, start {start_s:.1f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for_health(url: str, proc: subprocess.Popen[bytes], log: Path) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 180:
        if proc.poll() is not None:
            pytest.fail(f"label-studio exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if json.load(r).get("status") == "UP":
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.3)
    pytest.fail(f"label-studio not healthy after 180 s:\n{log.read_text()[-3000:]}")


def test_label_studio_round_trip(tmp_path: Path, label_studio: str) -> None:
    tasks, keys = read_tasks(DATA / "tasks.jsonl"), read_keys(DATA / "key.jsonl")
    folder = write_label_studio(tmp_path / "study", read_manifest(DATA / "study.json"), tasks)
    items = json.loads((folder / "tasks.json").read_text(encoding="utf-8"))
    data_of = {item["data"]["task_id"]: item["data"] for item in items}
    annotations = [
        {
            "token": USERS[name][2],
            "task_id": task_id,
            "result": [] if answer == "skip" else _result(data_of[task_id], answer),
            "was_cancelled": answer == "skip",
        }
        for name, answers in ANSWERS.items()
        for task_id, answer in answers.items()
    ]
    export = tmp_path / "export.json"
    plan = {"url": label_studio, "owner": USERS["alice"][2], "config": str(folder / "config.xml"),
            "tasks": str(folder / "tasks.json"), "export": str(export),
            "annotations": annotations}  # fmt: skip
    before = datetime.now(timezone.utc)
    done = subprocess.run(
        [str(LS_PYTHON), str(Path(__file__).parent / "label_studio_client.py")],
        input=json.dumps(plan), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    made = json.loads(done.stdout.strip().splitlines()[-1])
    assert made["tasks"] == len(tasks)
    ids = {name: made["users"][USERS[name][2]] for name in USERS}
    assert ids["alice"] != ids["bob"]  # two real Label Studio users

    # the export is Label Studio's own JSON: tasks with annotations, one skipped
    exported = json.loads(export.read_text(encoding="utf-8"))
    assert sorted(t["data"]["task_id"] for t in exported) == sorted(t.task_id for t in tasks)
    cancelled = [a for t in exported for a in t["annotations"] if a["was_cancelled"]]
    assert [a["completed_by"] for a in cancelled] == [ids["bob"]]

    files = {f.annotator: f for f in read_export(export, keys)}
    assert set(files) == {f"ls-user-{ids['alice']}", f"ls-user-{ids['bob']}"}
    for name, answers in ANSWERS.items():
        got = files[f"ls-user-{ids[name]}"].to_json_dict()
        assert got["study_id"] == read_manifest(DATA / "study.json").study_id
        labels = got["labels"]
        for label in labels:
            answered = datetime.fromisoformat(label.pop("answered_at"))
            assert before <= answered <= datetime.now(timezone.utc)
        assert labels == _expected(answers), name
