"""``agentscale swe run --memory BANK``: the bank is on across tasks: lessons distilled after the first task
are recalled into the rollouts of the next, the bank keeps them on disk, and a resumed batch neither
redoes finished tasks nor remembers them twice.

A scripted model and scripted sandboxes (the agent submits at once: an empty patch, which every
check scores without running anything) keep this in the quick suite; the memory machinery, the
CLI, the batch runner and the bank's SQLite file are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from agentscale.cli import main, swe_run
from agentscale.cli._common import Runtime
from agentscale.memory import MemoryBank
from agentscale.testing import FakeRepoSandbox, FunctionModel
from agentscale.types import ExecResult

LESSON = [{"title": "Check calc arithmetic", "description": "when calc add returns a wrong sum",
           "content": "Read the calc add function and run it on the issue's example before submitting."}]  # fmt: skip


class Provider:
    @contextlib.asynccontextmanager
    async def lease(self):
        yield FakeRepoSandbox(handler=lambda argv, files: ExecResult(exit_code=0, stdout="/work\n"))


def _instance(iid: str) -> dict:
    return {"instance_id": iid, "repo": "me/calc", "base_commit": "0" * 40,
            "problem_statement": f"calc add returns a wrong sum ({iid}): add(2, 3) gives -1",
            "FAIL_TO_PASS": ["test_calc.py::test_add"]}  # fmt: skip


def test_memory_is_on_across_the_tasks_of_a_batch(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "calc"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    agent_prompts: list[str] = []

    def reply(call):
        messages = call.prompt
        if "memory bank" in messages[0]["content"]:  # the distiller
            return json.dumps(LESSON)
        if sum(1 for m in messages if m["role"] == "assistant") == 0:
            agent_prompts.append("\n".join(str(m.get("content")) for m in messages))
        return "```submit\ndone\n```"

    model = FunctionModel(reply)

    @contextlib.asynccontextmanager
    async def scripted_runtime(args, workflow, *, pool_size=4, on_status=None):
        yield Runtime(llm=model, chat_llm=model, sandboxes=Provider(), model="scripted", api_base=None, note="scripted")

    monkeypatch.setattr(swe_run, "open_runtime", scripted_runtime)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(_instance(f"me__calc-{i}")) + "\n" for i in (1, 2)))
    bank, preds = tmp_path / "bank" / "swe.db", tmp_path / "preds.jsonl"
    argv = ["swe", "run", str(tasks), "--out", str(preds), "-n", "2", "--memory", str(bank),
            "--repo", f"me/calc={repo}", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 0
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert f"memory bank {bank} (0 lessons)" in err and "lessons (+" in err

    # two rollouts per task; the first task's rollouts had no lessons, the second task's recalled one
    assert len(agent_prompts) == 4
    assert all("Read the calc add function" not in p for p in agent_prompts[:2])
    assert all("Read the calc add function" in p for p in agent_prompts[2:])

    async def lessons() -> list:
        async with await MemoryBank.open(bank, embedder=None) as opened:
            return await opened.store.list()

    stored = asyncio.run(lessons())
    assert stored and any("calc add" in item.content for item in stored)
    runs = [json.loads(x) for x in (tmp_path / "preds.runs.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in runs] == ["me__calc-1", "me__calc-2"]

    # resumed: both tasks are in the predictions, nothing runs and nothing is remembered again
    calls = len(model.calls)
    assert main(argv) == 0
    assert len(model.calls) == calls and len(asyncio.run(lessons())) == len(stored)


def test_a_file_that_is_not_a_bank_fails_before_anything_starts(tmp_path, monkeypatch, capsys):
    @contextlib.asynccontextmanager
    async def no_runtime(*args, **kwargs):
        raise AssertionError("the runtime must not start")
        yield

    monkeypatch.setattr(swe_run, "open_runtime", no_runtime)
    tasks, not_a_bank = tmp_path / "tasks.jsonl", tmp_path / "notes.txt"
    tasks.write_text(json.dumps(_instance("me__calc-1")) + "\n")
    not_a_bank.write_text("shopping list: eggs, milk\n" * 100)
    code = main(["swe", "run", str(tasks), "--out", str(tmp_path / "p.jsonl"), "--memory", str(not_a_bank),
                 "--repo", f"me/calc={tmp_path}", "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert code != 0 and "notes.txt" in err and not (tmp_path / "p.jsonl").exists()
