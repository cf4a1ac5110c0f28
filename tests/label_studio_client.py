"""Drives a running Label Studio through its Python SDK, for the Label Studio round trip.

Runs with the Label Studio venv's Python (the SDK cannot be installed beside the project's
lock, see requirements/label-studio.in), so it imports only the standard library and
``label_studio_sdk``. It reads a JSON request on stdin and prints a JSON answer:

- ``{"action": "create", "url", "token", "config": PATH, "tasks": PATH}``: a project with the
  labeling config and the tasks imported -> ``{"project": id, "tasks": {task_id: id}}``
- ``{"action": "annotate", "url", "tasks": {task_id: id}, "annotations": [{"token",
  "task_id", "result": [...], "was_cancelled": bool}]}``: each annotation posted as the user
  whose token it names -> ``{"users": {token: user id}}``
- ``{"action": "export", "url", "token", "project": id, "export": PATH}``: the project's JSON
  export (all tasks) written to ``export`` -> ``{"bytes": n}``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from label_studio_sdk import LabelStudio


def create(request: dict[str, Any]) -> dict[str, Any]:
    """A project with our config and tasks."""
    ls = LabelStudio(base_url=request["url"], api_key=request["token"])
    config = Path(request["config"]).read_text(encoding="utf-8")
    project = ls.projects.create(title="drp-bench round trip", label_config=config)
    tasks = json.loads(Path(request["tasks"]).read_text(encoding="utf-8"))
    ls.projects.import_tasks(id=project.id, request=tasks)
    ids = {t.data["task_id"]: t.id for t in ls.tasks.list(project=project.id)}
    return {"project": project.id, "tasks": ids}


def annotate(request: dict[str, Any]) -> dict[str, Any]:
    """Post each annotation as its user."""
    clients: dict[str, LabelStudio] = {}
    users = {}
    for annotation in request["annotations"]:
        token = annotation["token"]
        if token not in clients:
            clients[token] = LabelStudio(base_url=request["url"], api_key=token)
            users[token] = clients[token].users.whoami().id
        clients[token].annotations.create(
            id=request["tasks"][annotation["task_id"]],
            result=annotation["result"],
            was_cancelled=annotation["was_cancelled"],
        )
    return {"users": users}


def export(request: dict[str, Any]) -> dict[str, Any]:
    """The project's JSON export, every task."""
    ls = LabelStudio(base_url=request["url"], api_key=request["token"])
    chunks = ls.projects.exports.download_sync(
        id=request["project"], export_type="JSON", download_all_tasks=True
    )
    data = b"".join(chunks)
    Path(request["export"]).write_bytes(data)
    return {"bytes": len(data)}


ACTIONS = {"create": create, "annotate": annotate, "export": export}

if __name__ == "__main__":
    request = json.load(sys.stdin)
    print(json.dumps(ACTIONS[request["action"]](request)))
