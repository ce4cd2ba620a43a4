"""The committed fixture set is what the brief promises: 30+ tasks from 3+ packages, each a real bug
whose statement reports the symptom and never shows the change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agentscale.graphs.swe import load_instances, to_task

TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "swe" / "tasks.jsonl"


def _changed_lines(patch: str) -> list[str]:
    return [
        line[1:].strip()
        for line in patch.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---")) and len(line[1:].strip()) > 8
    ]


def test_the_set_has_enough_tasks_from_enough_packages():
    tasks = load_instances(TASKS)
    assert tasks.errors == []
    packages = Counter(i.model_extra["pypi"]["name"] for i in tasks.instances.values())
    assert len(tasks.instances) >= 30 and len(packages) >= 3, packages
    assert {"toolz", "inflection", "python-slugify"} <= set(packages)


def test_each_task_is_a_real_bug_with_a_symptom_only_statement():
    for inst in load_instances(TASKS).instances.values():
        mutation = inst.model_extra["mutation"]
        assert inst.FAIL_TO_PASS and not set(inst.FAIL_TO_PASS) & set(inst.PASS_TO_PASS), inst.instance_id
        assert inst.patch.startswith(f"diff --git a/{mutation['path']} b/{mutation['path']}\n")
        assert inst.patch.count("diff --git") == 1
        statement = inst.problem_statement
        assert mutation["path"] not in statement and mutation["description"] not in statement
        for line in _changed_lines(inst.patch):
            assert line not in statement, (inst.instance_id, line)
        assert inst.model_extra["pypi"]["name"] in statement  # the user says what they are using
        task = to_task(inst)
        assert inst.patch not in task.model_dump_json() and "mutation" not in task.metadata
