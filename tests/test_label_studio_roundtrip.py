"""Label Studio round trip against the real server (issue 19).

Label Studio cannot be installed beside the project's lock (requirements/label-studio.in
says why), so it lives in its own venv, made by ``make label-studio`` (.venv-label-studio,
or the venv that DRP_BENCH_LABEL_STUDIO_VENV names; ``make test-slow`` makes it); without it
these tests skip (and fail under CI=true, like every missing dependency).

One Label Studio server for the module: SQLite in a temporary data folder, a free localhost
port, two users with legacy API tokens. Each test writes the study's Label Studio folder,
creates a project with our config.xml and imports tasks.json through the SDK
(tests/label_studio_client.py, run by that venv's Python), and exports JSON through the API:

- posted: each user's annotations posted through the API (one skipped); ``read_export``
  gives back exactly the labels posted.
- clicked: one user labels a feature-validity and a preference task in Label Studio's own
  labeling page in headless Chromium; ``read_export`` gives back what was clicked, so the
  config's controls (names, aliases, the reason shown only for "Not valid") are what the
  reader expects.
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
from tests.conftest import require_executable
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

pytestmark = pytest.mark.slow


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


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Label Studio server with the two users; yields its URL."""
    for executable in (LS_COMMAND, LS_PYTHON):
        require_executable(executable, f"Label Studio's venv {LS_VENV}; `make label-studio`")
    tmp = tmp_path_factory.mktemp("label-studio")
    env, log = _ls_env(tmp / "data"), tmp / "label-studio.log"
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


def _client(**request: Any) -> dict[str, Any]:
    """Run one action of tests/label_studio_client.py with the Label Studio venv's Python."""
    done = subprocess.run(
        [str(LS_PYTHON), str(Path(__file__).parent / "label_studio_client.py")],
        input=json.dumps(request), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _project(url: str, folder: Path) -> dict[str, Any]:
    """A new project with the study's config and tasks: {"project": id, "tasks": {...}}."""
    return _client(action="create", url=url, token=USERS["alice"][2],
                   config=str(folder / "config.xml"), tasks=str(folder / "tasks.json"))  # fmt: skip


def _export(url: str, project: int, out: Path) -> list[dict[str, Any]]:
    _client(action="export", url=url, token=USERS["alice"][2], project=project, export=str(out))
    return json.loads(out.read_text(encoding="utf-8"))


def _labels_without_times(labels: list[dict[str, Any]], since: datetime) -> list[dict[str, Any]]:
    """The labels with answered_at removed, each checked to lie between ``since`` and now."""
    for label in labels:
        answered = datetime.fromisoformat(label.pop("answered_at"))
        assert since <= answered <= datetime.now(timezone.utc)
    return labels


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


def test_posted_annotations_come_back(tmp_path: Path, label_studio: str) -> None:
    tasks, keys = read_tasks(DATA / "tasks.jsonl"), read_keys(DATA / "key.jsonl")
    folder = write_label_studio(tmp_path / "study", read_manifest(DATA / "study.json"), tasks)
    items = json.loads((folder / "tasks.json").read_text(encoding="utf-8"))
    data_of = {item["data"]["task_id"]: item["data"] for item in items}
    made = _project(label_studio, folder)
    assert sorted(made["tasks"]) == sorted(t.task_id for t in tasks)
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
    before = datetime.now(timezone.utc)
    users = _client(action="annotate", url=label_studio, tasks=made["tasks"],
                    annotations=annotations)["users"]  # fmt: skip
    ids = {name: users[USERS[name][2]] for name in USERS}
    assert ids["alice"] != ids["bob"]  # two real Label Studio users

    # the export is Label Studio's own JSON: tasks with annotations, one skipped
    exported = _export(label_studio, made["project"], tmp_path / "export.json")
    assert sorted(t["data"]["task_id"] for t in exported) == sorted(made["tasks"])
    cancelled = [a for t in exported for a in t["annotations"] if a["was_cancelled"]]
    assert [a["completed_by"] for a in cancelled] == [ids["bob"]]

    files = {f.annotator: f for f in read_export(tmp_path / "export.json", keys)}
    assert set(files) == {f"ls-user-{ids['alice']}", f"ls-user-{ids['bob']}"}
    for name, answers in ANSWERS.items():
        got = files[f"ls-user-{ids[name]}"].to_json_dict()
        assert got["study_id"] == read_manifest(DATA / "study.json").study_id
        assert _labels_without_times(got["labels"], before) == _expected(answers), name


def test_labels_clicked_in_label_studio_come_back(tmp_path: Path, label_studio: str) -> None:
    from tests.browser import CHROMIUM, open_page

    require_executable(CHROMIUM, "Label Studio's labeling page; `make browser`")
    tasks, keys = read_tasks(DATA / "tasks.jsonl"), read_keys(DATA / "key.jsonl")
    folder = write_label_studio(tmp_path / "study", read_manifest(DATA / "study.json"), tasks)
    made = _project(label_studio, folder)
    email, password, _ = USERS["bob"]
    before = datetime.now(timezone.utc)
    with open_page(height=1600) as page:
        page.goto(f"{label_studio}/user/login/")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        # t0002: f1 valid, f2 not valid (unsupported), f3 not valid (not a difference), 4 stars
        _open_task(page, label_studio, made, "t0002")
        assert _visible(page, "Unclear") == 0  # no reason asked before "Not valid"
        _radio(page, "Valid", 0).click()
        _radio(page, "Not valid", 1).click()
        assert _visible(page, "Unclear") == 1  # asked for feature f2 only
        _radio(page, "Not supported by the reviews", 1).click()
        _radio(page, "Not valid", 2).click()
        _radio(page, "Not a difference", 2).click()
        page.locator(".ant-rate-star").nth(3).click()
        page.get_by_role("button", name="Submit").click()
        page.wait_for_load_state("networkidle")
        # t0001: B
        _open_task(page, label_studio, made, "t0001")
        assert _visible(page, "Valid") == 0  # no feature questions in a preference task
        _radio(page, "B").click()
        page.get_by_role("button", name="Submit").click()
        page.wait_for_load_state("networkidle")
    expected = _expected(
        {
            "t0002": {
                "features": {
                    "f1": (True, None),
                    "f2": (False, "unsupported"),
                    "f3": (False, "not_a_difference"),
                },
                "set_rating": 4,
            },
            "t0001": {"choice": "B"},
        }
    )
    _export(label_studio, made["project"], tmp_path / "export.json")
    (bob,) = read_export(tmp_path / "export.json", keys)
    assert bob.annotator.startswith("ls-user-")
    assert _labels_without_times(bob.to_json_dict()["labels"], before) == expected


def _open_task(page: Any, url: str, made: dict[str, Any], task_id: str) -> None:
    page.goto(f"{url}/projects/{made['project']}/data?tab=1&task={made['tasks'][task_id]}")
    page.locator(".lsf-choices").first.wait_for(timeout=60_000)


def _radio(page: Any, choice: str, index: int = 0) -> Any:
    """The radio button of a choice (Label Studio names each input after its choice's text)."""
    return page.locator(f"input[name='{choice}']").nth(index)


def _visible(page: Any, choice: str) -> int:
    return sum(radio.is_visible() for radio in page.locator(f"input[name='{choice}']").all())
