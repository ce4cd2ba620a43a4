"""benchmarks/workflows.py with a scripted model: N = 1 and 4 are read off the first rollouts of the
draw of 8, every selection is scored against the hidden answer, a rerun resumes without a model
call, results of other settings are refused, and the memory pass keeps its bank on disk."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from agentscale.graphs.math import MathWorkflow, gsm_tasks
from agentscale.testing import FakeSandboxProvider, FunctionModel
from agentscale.types import ExecResult
from agentscale.workflows import WorkflowEnv

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("workflows_benchmark", ROOT / "benchmarks" / "workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


wb = _module()
TASKS = gsm_tasks([0, 1])


def policy(call):
    """Rollout ``seed`` of a task: 0 guesses a wrong answer, 1-2 guess right, 3 computes another wrong one,
    4-7 compute the right one (a guess is an answer no program printed)."""
    task = next(t for t in TASKS if t.prompt in call.prompt[1]["content"])
    right, wrong = task.expected, str(int(task.expected) + 1)
    ran = [m["content"] for m in call.prompt if m.get("name") == "python"]
    if ran:  # the program's output is the answer (the loop varies the seed per step: decide on step 1)
        return f"Final answer: {ran[-1].split()[-1]}"
    seed = call.seed if call.seed is not None else 0
    if seed <= 2:
        return f"Final answer: {int(wrong) + 1 if seed == 0 else right}"
    return f"```python\nprint({wrong if seed == 3 else right})\n```"


def printed(argv, files):
    return ExecResult(exit_code=0, stdout=re.search(rb"print\((\d+)\)", files["main.py"]).group(1).decode() + "\n")


def suite(model, pool, settings=None):
    parts = MathWorkflow().build(WorkflowEnv(model=model, sandboxes=pool))
    return wb.Suite("math", TASKS, parts, sandboxes=pool, settings=settings or {"model": "scripted"})


async def test_the_draw_is_read_at_n_1_4_8_scored_resumed_and_tabulated(tmp_path):
    model, pool = FunctionModel(policy), FakeSandboxProvider(handler=printed)
    args = argparse.Namespace(out_dir=tmp_path, timed=1, memory=True, budget=100_000, draw=True)
    await wb.run_suite(suite(model, pool), model, args)
    records = wb.read_records(tmp_path / "math.jsonl")
    assert [(r["task"], r["method"]) for r in records] == [
        ("gsm_symbolic/0", "draw"), ("gsm_symbolic/0", "one"), ("gsm_symbolic/0", "memory_off"),
        ("gsm_symbolic/0", "memory_on"), ("gsm_symbolic/1", "draw"), ("gsm_symbolic/1", "memory_off"),
        ("gsm_symbolic/1", "memory_on"),
    ]  # fmt: skip
    draw = records[0]
    assert [s["score"] for s in draw["samples"]] == [0, 1, 1, 0, 1, 1, 1, 1]  # in seed order
    assert [s["check"] for s in draw["samples"]] == [0.5, 0.5, 0.5, 1, 1, 1, 1, 1]  # GroundedAnswer
    # of the first 4: the vote says right (2 of 4), the only grounded answer is wrong, one of them is right
    assert (draw["majority@4"], draw["best@4"], draw["oracle@4"]) == (1.0, 0.0, 1.0)
    assert draw["majority@8"] == 1.0 and draw["oracle@8"] == 1.0
    assert records[1]["score"] == 0.0  # the real single run is rollout 0 again
    assert (tmp_path / "math-memory.db").exists() and not (tmp_path / "math-memory.work.db").exists()

    calls = len(model.calls)
    await wb.run_suite(suite(model, pool), model, args)  # everything is recorded: nothing runs again
    assert len(model.calls) == calls and len(wb.read_records(tmp_path / "math.jsonl")) == 7
    with pytest.raises(SystemExit, match="other settings"):
        await wb.run_suite(suite(model, pool, {"model": "another"}), model, args)

    summary = wb.summarize("math", wb.read_records(tmp_path / "math.jsonl"))
    rows = {r["method"]: r for r in summary["rows"]}
    assert rows["one rollout"]["score"] == 0.0 and rows["majority@4"]["score"] == 1.0
    assert rows["best-of-4"]["score"] == 0.0 and rows["pass@4"]["score"] == 1.0
    first4 = [sum(s["tokens"] for s in r["samples"][:4]) for r in records if r["method"] == "draw"]
    assert rows["best-of-4"]["tokens"] == sum(first4) / 2
    assert rows["best-of-8"]["wall"] == (records[0]["wall"] + records[4]["wall"]) / 2
    assert [m["tasks"] for m in summary["memory"]] == [2, 2]
    table = wb.render(summary)
    assert "majority@4" in table and "best-of-4, memory on" in table and "2 tasks" in table
    assert json.loads(json.dumps(summary)) == summary  # --json prints it as is


async def test_no_draw_runs_only_real_single_rollouts_and_tabulates_them(tmp_path):
    # the next size up as a baseline: one real rollout per task, nothing drawn
    model, pool = FunctionModel(policy), FakeSandboxProvider(handler=printed)
    args = argparse.Namespace(out_dir=tmp_path, timed=2, memory=False, budget=100_000, draw=False)
    await wb.run_suite(suite(model, pool), model, args)
    records = wb.read_records(tmp_path / "math.jsonl")
    assert [(r["task"], r["method"]) for r in records] == [("gsm_symbolic/0", "one"), ("gsm_symbolic/1", "one")]
    assert len(model.calls) == 2  # rollout 0 of each task answers without a program: one call each

    summary = wb.summarize("math", records)
    assert summary["tasks"] == 2 and summary["drawn"] == 0
    (row,) = summary["rows"]
    assert row["method"] == "one rollout" and row["score"] == 0.0  # rollout 0 guesses wrong
    assert row["tokens"] == sum(r["tokens"] for r in records) / 2
    assert "no draw" in row["wall_from"] and "0 drawn" in wb.render(summary)


def test_an_unknown_miniwob_task_is_refused_before_any_model_starts(tmp_path, capsys):
    pytest.importorskip("miniwob")
    with pytest.raises(SystemExit):
        _module().main(["--section", "miniwob", "--miniwob-tasks", "choose-list,clik-color",
                        "--out-dir", str(tmp_path)])
    assert "--miniwob-tasks: no MiniWoB++ task clik-color (the pages are in " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing written
