"""``run_batch`` and ``read_tasks``: results files that survive kills and reruns, and tasks files whose
bad lines cost only themselves."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentscale.errors import ConfigError
from agentscale.evaluation import read_results, read_tasks, run_batch
from agentscale.graphs.chat import ChatWorkflow
from agentscale.graphs.humaneval import HumanEvalWorkflow


def record(key, status="chosen", **more):
    return {"task_id": key, "status": status, **more}


class Counter:
    """``run_one`` that records what it ran; ``fail``/``unfinished`` keys raise or return ``none_ran``."""

    def __init__(self, fail=(), unfinished=(), delay=0.0):
        self.ran: list[str] = []
        self.fail, self.unfinished, self.delay = set(fail), set(unfinished), delay
        self.active = self.peak = 0

    async def __call__(self, key):
        self.ran.append(key)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            if key in self.fail:
                raise RuntimeError(f"boom {key}")
            return record(key, "none_ran" if key in self.unfinished else "chosen", answer=f"a-{key}")
        finally:
            self.active -= 1


def items(*keys):
    return [(k, k) for k in keys]


async def test_writes_one_flushed_line_per_item_and_resumes(tmp_path):
    out = tmp_path / "r.jsonl"
    run = Counter()
    report = await run_batch(items("a", "b", "c"), run, out=out, workers=2)
    assert sorted(report.done) == ["a", "b", "c"] and report.skipped == []
    assert [r["task_id"] for r in report.records] == ["a", "b", "c"]  # in item order
    again = Counter()
    report = await run_batch(items("a", "b", "c", "d"), again, out=out, workers=2)
    assert again.ran == ["d"] and report.skipped == ["a", "b", "c"]
    assert sorted(r["task_id"] for r in read_results(out)) == ["a", "b", "c", "d"]


async def test_workers_bound_the_concurrency(tmp_path):
    run = Counter(delay=0.05)
    await run_batch(items(*"abcdef"), run, out=tmp_path / "r.jsonl", workers=3)
    assert run.peak == 3


async def test_a_torn_last_line_is_dropped_and_redone(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(record("a")) + "\n" + '{"task_id": "b", "sta')  # killed mid-write
    run = Counter()
    report = await run_batch(items("a", "b"), run, out=out)
    assert run.ran == ["b"] and report.dropped == 1
    lines = out.read_text().splitlines()
    assert [json.loads(line)["task_id"] for line in lines] == ["a", "b"]  # valid JSONL again


async def test_unfinished_lines_are_taken_out_and_redone(tmp_path):
    out = tmp_path / "r.jsonl"
    other = record("zz", "error")  # not one of this batch's items: left as it is
    out.write_text("".join(json.dumps(r) + "\n" for r in (record("a"), record("b", "error"), other)))
    run = Counter()
    await run_batch(items("a", "b"), run, out=out)
    assert run.ran == ["b"]
    kept = [(r["task_id"], r["status"]) for r in read_results(out)]
    assert kept == [("a", "chosen"), ("zz", "error"), ("b", "chosen")]


async def test_garbage_in_the_middle_is_refused_and_nothing_is_touched(tmp_path):
    out = tmp_path / "r.jsonl"
    text = json.dumps(record("a")) + "\nnot a record\n" + json.dumps(record("b")) + "\n"
    out.write_text(text)
    with pytest.raises(ConfigError, match="line 2 is not a results record"):
        await run_batch(items("a", "b"), Counter(), out=out)
    assert out.read_text() == text


async def test_lines_made_another_way_are_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(record("a", n=2)) + "\n")
    with pytest.raises(ConfigError, match="made differently"):
        await run_batch(items("a"), Counter(), out=out, same_run=lambda r: None if r.get("n") == 3 else "n differs")


async def test_a_raising_item_is_reported_not_written_and_the_batch_goes_on(tmp_path):
    out = tmp_path / "r.jsonl"
    seen = []
    report = await run_batch(items("a", "b", "c"), Counter(fail={"b"}), out=out, on_event=seen.append)
    assert report.failed == [("b", "RuntimeError: boom b")]
    assert sorted(r["task_id"] for r in read_results(out)) == ["a", "c"]
    assert [(e.kind, e.key) for e in seen if e.kind in ("failed", "finished")] == [
        ("finished", "a"), ("failed", "b"), ("finished", "c"),
    ]  # fmt: skip
    run = Counter()
    await run_batch(items("a", "b", "c"), run, out=out)
    assert run.ran == ["b"]


async def test_it_stops_after_failures_in_a_row(tmp_path):
    run = Counter(unfinished=set("abcdef"))
    report = await run_batch(items(*"abcdef"), run, out=tmp_path / "r.jsonl", stop_after=3)
    assert run.ran == ["a", "b", "c"] and report.stopped.startswith("3 tasks in a row did not finish")


async def test_cancelling_keeps_every_line_written(tmp_path):
    out = tmp_path / "r.jsonl"
    run = Counter(delay=0.2)
    batch = asyncio.create_task(run_batch(items(*"abcdefgh"), run, out=out, workers=2))
    while len(read_results(out)) < 2:
        await asyncio.sleep(0.02)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    kept = {r["task_id"] for r in read_results(out)}
    assert 2 <= len(kept) < 8
    rerun = Counter()
    await run_batch(items(*"abcdefgh"), rerun, out=out, workers=2)
    assert set(rerun.ran) == set("abcdefgh") - kept


async def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="workers"):
        await run_batch(items("a"), Counter(), out=tmp_path / "r", workers=0)
    with pytest.raises(ConfigError, match="given twice"):
        await run_batch([("a", 1), ("a", 2)], Counter(), out=tmp_path / "r")


def test_read_tasks_keys_bad_lines_and_duplicates(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        "\n".join([
            '"What is 2+2?"', "", '{"id": "q2", "prompt": "Hi"}', "{oops", "[1, 2]", '{"foo": 1}', '"What is 2+2?"',
        ]) + "\n"
    )  # fmt: skip
    found = read_tasks(path, ChatWorkflow().task)
    assert [(t.line, t.key) for t in found.tasks][1] == (3, "q2")
    first = found.tasks[0]
    assert first.key.startswith("t-") and first.task.id == first.key  # a stable key for a task without an id
    assert read_tasks(path, ChatWorkflow().task).tasks[0].key == first.key
    assert [e.line for e in found.errors] == [4, 5, 6, 7]
    assert found.errors[0].error.startswith("not JSON") and found.errors[0].text == "{oops"
    assert found.errors[1].error == "a task is a JSON string or object, not list"
    assert found.errors[2].error.startswith("a chat record needs 'prompt' (or 'question') or 'messages'")
    assert found.errors[3].error == f"task '{first.key}' is already on line 1"
    with pytest.raises(ConfigError, match="no tasks file"):
        read_tasks(tmp_path / "missing.jsonl", ChatWorkflow().task)


def test_read_tasks_keeps_a_workflows_own_stable_ids(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text('"12"\n{"task_id": "HumanEval/3"}\n"HumanEval/999"\n')
    found = read_tasks(path, HumanEvalWorkflow().task)
    assert [t.key for t in found.tasks] == ["HumanEval/12", "HumanEval/3"]
    assert [e.line for e in found.errors] == [3]
