"""Memory-aware scaling: scale() recalls lessons into every rollout's prompt and remembers after selection.

Control flow only: scripted models, a BM25 bank on a SQLite file or in memory.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agentscale.agents import LLMAgent
from agentscale.budget import Budget
from agentscale.memory import InMemoryMemoryStore, MemoryBank, MemoryItem
from agentscale.prompts import render_lessons, render_request
from agentscale.protocols import Memory
from agentscale.strategies import AdaptivePolicy, ReflectPolicy, ScaleContext, scale
from agentscale.testing import FunctionModel
from agentscale.types import Rollout, RolloutRequest, Task, Verdict

LESSON_TEXT = "Use s[::-1] to reverse a string in Python."
LESSON = json.dumps([{"title": "Reverse with slicing", "description": "reversing strings", "content": LESSON_TEXT}])
FIRST = Task(id="t1", prompt="Write solve(s) that reverses the string s.")
SECOND = Task(id="t2", prompt="Write solve(s) that reverses the string s and uppercases it.")


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(str(m.get("content", "")) for m in prompt)


def _agent_model() -> FunctionModel:
    # even samples pass, odd ones fail: N rollouts of one task with both outcomes (contrastive)
    def reply(call):
        return "def solve(s): return s[::-1]" if (call.seed or 0) % 2 == 0 else "def solve(s): return s"

    return FunctionModel(reply, name="agent")


def _lesson_model() -> FunctionModel:
    return FunctionModel(lambda call: LESSON, name="distiller")


class SlicingVerifier:
    """Passes code that slices backwards; records the task each verification saw."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        self.tasks.append(task)
        passed = "[::-1]" in rollout.output
        return Verdict(rollout_id=rollout.id, score=float(passed), passed=passed, feedback="checked")


class CountingBank:
    """A bank that counts its calls (and can be broken)."""

    def __init__(self, bank: MemoryBank) -> None:
        self.bank = bank
        self.recalls = 0
        self.remembers: list[tuple[str, int, str | None]] = []

    async def recall(self, task, k=3):
        self.recalls += 1
        return await self.bank.recall(task, k)

    async def remember(self, task, rollouts, verdicts=None, model=None, *, judge=None, recalled=None):
        self.remembers.append((task.id, len(rollouts), None if model is None else "model"))
        return await self.bank.remember(task, rollouts, verdicts, model, judge=judge, recalled=recalled)


class BrokenStore(InMemoryMemoryStore):
    """Every read and write fails the way a locked or corrupt database does."""

    async def search(self, query, *, k, embedding=None):
        raise sqlite3.OperationalError("database is locked")

    async def add(self, items):
        raise RuntimeError("disk full")


async def test_lessons_written_by_one_task_reach_every_rollout_of_the_next(tmp_path):
    agent_model, lessons, verifier = _agent_model(), _lesson_model(), SlicingVerifier()
    graph = scale(LLMAgent(agent_model), strategy="best_of_n", n=4, verifier=verifier)
    async with await MemoryBank.open(tmp_path / "bank.db", embedder=None) as bank:
        assert isinstance(bank, Memory)
        ctx = ScaleContext(memory=bank, model=lessons, budget=Budget())
        first = await graph.ainvoke({"task": FIRST}, context=ctx)
        assert first["memories"] == []
        assert first["selected"].rollout_id is not None
        assert len(first["remembered"]) == 1
        # N rollouts that both passed and failed: the bank was asked for a contrastive lesson
        (distil,) = [c for c in lessons.calls if "Reply with JSON" in _text(c.prompt)]
        assert "PASSING attempt" in _text(distil.prompt) and "FAILING attempt" in _text(distil.prompt)
        assert all(LESSON_TEXT not in _text(c.prompt) for c in agent_model.calls)

        agent_model.calls.clear()
        verifier.tasks.clear()
        second = await graph.ainvoke({"task": SECOND}, context=ctx)
        assert second["memories"] == first["remembered"]
        prompts = [_text(c.prompt) for c in agent_model.calls]
        assert len(prompts) == 4
        for prompt in prompts:
            assert prompt.startswith("Lessons learned on similar tasks")
            assert LESSON_TEXT in prompt
            assert prompt.endswith(SECOND.prompt)  # the task itself intact, after the lessons
        # verifiers (and the selection) see the task as given, not the prompt with lessons
        assert {t.prompt for t in verifier.tasks} == {SECOND.prompt}
        assert second["task"].prompt == SECOND.prompt
        assert second["selected"].rollout_id is not None
        # the recalled lesson was credited with the second task's outcome (it passed)
        (item,) = await bank.store.list()
        assert item.uses >= 1 and item.successes >= 1


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("majority", {"n": 3}),
        ("adaptive", {"policy": AdaptivePolicy(max_samples=4, wave=2)}),
        ("reflect", {"n": 2, "policy": ReflectPolicy(max_rounds=1, threshold=1.0, critique=False)}),
        ("first_finish", {"n": 3}),
    ],
)
async def test_every_strategy_recalls_before_and_remembers_after(strategy, options):
    bank = CountingBank(MemoryBank(InMemoryMemoryStore()))
    await bank.bank.add([MemoryItem(title="Reverse", description="strings", content=LESSON_TEXT, query=FIRST.prompt)])
    agent_model = _agent_model()
    graph = scale(LLMAgent(agent_model), strategy=strategy, verifier=SlicingVerifier(), **options)
    out = await graph.ainvoke({"task": SECOND}, context=ScaleContext(memory=bank, model=_lesson_model()))
    assert out.get("selected") is not None
    assert bank.recalls == 1
    assert bank.remembers == [("t2", len(out["rollouts"]), "model")]
    assert agent_model.calls and all(LESSON_TEXT in _text(c.prompt) for c in agent_model.calls)


async def test_without_a_bank_nothing_changes():
    agent_model, lessons = _agent_model(), _lesson_model()
    graph = scale(LLMAgent(agent_model), strategy="best_of_n", n=3, verifier=SlicingVerifier())
    out = await graph.ainvoke({"task": FIRST}, context=ScaleContext(model=lessons))
    assert "memories" not in out and "remembered" not in out
    assert out["task"] == FIRST
    assert [_text(c.prompt) for c in agent_model.calls] == [FIRST.prompt] * 3
    assert lessons.calls == []
    assert out["selected"].rollout_id is not None


async def test_a_broken_bank_never_fails_the_run(caplog):
    bank = CountingBank(MemoryBank(BrokenStore()))
    events, out = [], {}
    graph = scale(LLMAgent(_agent_model()), strategy="best_of_n", n=2, verifier=SlicingVerifier())
    context = ScaleContext(memory=bank, model=_lesson_model())
    async for mode, chunk in graph.astream({"task": FIRST}, context=context, stream_mode=["custom", "values"]):
        if mode == "values":
            out = chunk
        elif chunk["event"] == "memory":
            events.append(chunk)
    assert out["selected"].rollout_id is not None
    assert out["memories"] == [] and out["remembered"] == []
    assert [e["step"] for e in events] == ["recall", "remember"]
    assert events[0]["error"] == "OperationalError: database is locked"
    assert events[1]["error"].split(":")[0] in {"OperationalError", "RuntimeError"}
    assert "memory recall failed" in caplog.text and "memory remember failed" in caplog.text


async def test_a_bank_whose_model_breaks_never_fails_the_run():
    bank = MemoryBank(InMemoryMemoryStore())
    broken = FunctionModel(lambda call: (_ for _ in ()).throw(ConnectionError("server gone")))
    graph = scale(LLMAgent(_agent_model()), strategy="best_of_n", n=2, verifier=SlicingVerifier())
    out = await graph.ainvoke({"task": FIRST}, context=ScaleContext(memory=bank, model=broken))
    assert out["selected"].rollout_id is not None
    assert out["remembered"] == []


async def test_distilling_is_charged_to_the_budget_and_skipped_when_it_is_spent():
    lessons = _lesson_model()
    graph = scale(LLMAgent(_agent_model()), strategy="best_of_n", n=2, verifier=SlicingVerifier())
    budget = Budget()
    bank = CountingBank(MemoryBank(InMemoryMemoryStore()))
    await graph.ainvoke({"task": FIRST}, context=ScaleContext(memory=bank, model=lessons, budget=budget))
    assert len(lessons.calls) == 1
    assert budget.spent.calls == 3  # two rollouts and one distillation

    spent = Budget(max_tokens=1)  # the rollouts use it up
    lessons.calls.clear()
    out = await graph.ainvoke({"task": SECOND}, context=ScaleContext(memory=bank, model=lessons, budget=spent))
    assert out["selected"].rollout_id is not None
    assert lessons.calls == []  # no distillation call past the budget
    assert bank.remembers[-1] == ("t2", 2, None)  # the bank still heard the outcome (credits, no call)
    assert out["remembered"] == []


async def test_a_resumed_run_remembers_once():
    bank = CountingBank(MemoryBank(InMemoryMemoryStore()))
    graph = scale(LLMAgent(_agent_model()), strategy="best_of_n", n=2, verifier=SlicingVerifier())
    graph = graph.copy(update={"checkpointer": InMemorySaver()})
    config = {"configurable": {"thread_id": "run-1"}}
    ctx = ScaleContext(memory=bank, model=_lesson_model())
    # stop just before remember, as a run killed after selection would
    await graph.ainvoke({"task": FIRST}, config, context=ctx, interrupt_before=["remember"])
    assert bank.remembers == []
    out = await graph.ainvoke(None, config, context=ctx)
    assert len(out["remembered"]) == 1
    again = await graph.ainvoke(None, config, context=ctx)  # resuming a finished run does nothing
    assert again["remembered"] == out["remembered"]
    assert bank.recalls == 1 and len(bank.remembers) == 1
    # a new task on the same thread is a new run: it recalls and remembers again
    await graph.ainvoke({"task": SECOND}, config, context=ctx)
    assert bank.recalls == 2 and [r[0] for r in bank.remembers] == ["t1", "t2"]


def test_lessons_render_on_top_of_the_task_as_given():
    item = MemoryItem(title="Reverse", description="strings", content=LESSON_TEXT)
    block = render_lessons([item.render()])
    assert block.startswith("Lessons learned") and LESSON_TEXT in block
    request = RolloutRequest(lessons=[item.render()], prompt_variant="Be brief.")
    assert render_request(FIRST, request) == f"{block}\n\n---\n\n{FIRST.prompt}\n\nBe brief."
    # no lessons: the task and what the request adds, nothing else
    assert render_request(FIRST, RolloutRequest(prompt_variant="Be brief.")) == f"{FIRST.prompt}\n\nBe brief."
    assert render_request(FIRST, RolloutRequest()) == FIRST.prompt
