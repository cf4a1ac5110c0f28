"""Drives a running Label Studio through its Python SDK, for the Label Studio round trip.

Runs with the Label Studio venv's Python (the SDK cannot be installed beside the project's
lock, see requirements/label-studio.in), so it imports only the standard library and
``label_studio_sdk``. It reads a JSON plan on stdin:

    {"url": ..., "owner": TOKEN, "config": PATH, "tasks": PATH, "export": PATH,
     "annotations": [{"token": TOKEN, "task_id": "t0002", "result": [...],
                      "was_cancelled": false}, ...]}

creates a project with the config, imports the tasks, posts each annotation as the user
whose token it names, exports the project as JSON to ``export`` and prints
``{"project": id, "users": {TOKEN: user id}, "tasks": n}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from label_studio_sdk import LabelStudio


def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Carry out the plan (see the module docstring); returns what was made."""
    owner = LabelStudio(base_url=plan["url"], api_key=plan["owner"])
    config = Path(plan["config"]).read_text(encoding="utf-8")
    project = owner.projects.create(title="drp-bench round trip", label_config=config)
    tasks = json.loads(Path(plan["tasks"]).read_text(encoding="utf-8"))
    owner.projects.import_tasks(id=project.id, request=tasks)
    by_task_id = {t.data["task_id"]: t.id for t in owner.tasks.list(project=project.id)}
    clients = {plan["owner"]: owner}
    users = {}
    for annotation in plan["annotations"]:
        token = annotation["token"]
        if token not in clients:
            clients[token] = LabelStudio(base_url=plan["url"], api_key=token)
        users[token] = clients[token].users.whoami().id
        clients[token].annotations.create(
            id=by_task_id[annotation["task_id"]],
            result=annotation["result"],
            was_cancelled=annotation["was_cancelled"],
        )
    export = b"".join(
        owner.projects.exports.download_sync(
            id=project.id, export_type="JSON", download_all_tasks=True
        )
    )
    Path(plan["export"]).write_bytes(export)
    return {"project": project.id, "users": users, "tasks": len(by_task_id)}


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
