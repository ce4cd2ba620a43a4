"""End to end with the real embedded model: lessons written after one task reach the next
related task's prompt. Asserts the machinery (written, retrieved, visible in the prompt the
model received), never that the model's code is right."""

from __future__ import annotations

import operator
import time
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentscale.memory import MemoryBank, MemoryContext, recall, remember
from agentscale.prompts import render_request
from agentscale.types import Rollout, RolloutRequest, Task, Verdict

# Seven model calls on a 2-core machine that may be shared: allow more than the suite's default.
pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(1500)]

TASKS = [
    Task(id="words-1", prompt="Write a Python function reverse_words(sentence) that returns the words of a "
         "sentence string in reverse order, keeping single spaces between words.",
         metadata={"entry_point": "reverse_words"}),
    Task(id="words-2", prompt="Write a Python function capitalize_words(sentence) that capitalizes the first "
         "letter of every word in a sentence string.", metadata={"entry_point": "capitalize_words"}),
    Task(id="words-3", prompt="Write a Python function longest_word(sentence) that returns the longest word "
         "in a sentence string (the first one on ties).", metadata={"entry_point": "longest_word"}),
]  # fmt: skip


class State(TypedDict, total=False):
    task: Task
    rollouts: Annotated[list[Rollout], operator.add]
    verdicts: dict[str, Verdict]
    lessons: list[str]
    memories: list[str]
    remembered: list[str]


class RecordingModel:
    """Passes calls through to the real model and keeps every prompt it was sent."""

    def __init__(self, llm) -> None:
        self.llm = llm
        self.prompts: list[Any] = []

    async def generate(self, prompt, **kwargs):
        self.prompts.append(prompt)
        start = time.perf_counter()
        completion = await self.llm.generate(prompt, **kwargs)
        print(f"model call {len(self.prompts)}: {time.perf_counter() - start:.1f} s, {completion.usage}")
        return completion


def _check(task: Task, output: str) -> Verdict:
    # A cheap, real verifier that never runs model code: the function is defined and compiles.
    code = output.split("```python")[-1].split("```")[0] if "```" in output else output
    try:
        compile(code, "<answer>", "exec")
        ok = f"def {task.metadata['entry_point']}(" in code
        reason = "" if ok else f"no function named {task.metadata['entry_point']}"
    except SyntaxError as exc:
        ok, reason = False, f"syntax error: {exc.msg}"
    return ok, reason


async def _agent(state: State, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
    task = state["task"]
    messages = [
        {"role": "system", "content": "You are a Python programmer. Reply with code in one ```python block."},
        {"role": "user", "content": render_request(task, RolloutRequest(lessons=state.get("lessons") or []))},
    ]
    completion = await runtime.context.model.generate(messages, n=2, temperature=0.8, max_tokens=160)
    rollouts, verdicts = [], {}
    for text in completion.texts:
        rollout = Rollout(task_id=task.id, output=text)
        ok, reason = _check(task, text)
        rollouts.append(rollout)
        verdicts[rollout.id] = Verdict(rollout_id=rollout.id, score=float(ok), passed=ok, feedback=reason)
    return {"rollouts": rollouts, "verdicts": verdicts}


async def test_memories_written_then_recalled_into_the_next_prompt(llama_server, tmp_path):
    from agentscale.llm import LLM

    graph = StateGraph(State, context_schema=MemoryContext)
    graph.add_node("recall", recall)
    graph.add_node("agent", _agent)
    graph.add_node("remember", remember)
    graph.add_edge(START, "recall")
    graph.add_edge("recall", "agent")
    graph.add_edge("agent", "remember")
    graph.add_edge("remember", END)
    app = graph.compile()

    async with (
        # a generous timeout: CI machines have 2 cores, often shared with other model work
        LLM(
            llama_server.model, api_base=llama_server.api_base, profile=llama_server.profile, timeout=600
        ) as llm,
        await MemoryBank.open(tmp_path / "bank.db") as bank,  # embeddings if installed, else BM25
    ):
        model = RecordingModel(llm)
        context = MemoryContext(memory=bank, model=model, memory_k=3)
        results = []
        for task in TASKS:
            first_call = len(model.prompts)
            out = await app.ainvoke({"task": task}, context=context)
            results.append((out, model.prompts[first_call]))  # the agent's prompt for this task

        written = await bank.store.list()
        assert written, "the model's distillations gave no readable items"
        assert all(p.task_id in {t.id for t in TASKS} for it in written for p in it.provenance)

        first_out, first_prompt = results[0]
        assert first_out["memories"] == []  # nothing to recall yet
        assert "Lessons learned" not in first_prompt[-1]["content"]

        # a later task recalled items written by an earlier one, and the model saw their text
        later = [(out, prompt) for out, prompt in results[1:] if out["memories"]]
        assert later, f"no later task recalled anything; bank holds {[it.title for it in written]}"
        for out, prompt in later:
            user_text = prompt[-1]["content"]
            assert user_text.startswith("Lessons learned on similar tasks")
            assert user_text.endswith(out["task"].prompt)  # the task as given, under the lessons
            for item_id in out["memories"]:
                item = await bank.store.get(item_id)
                assert item.content.splitlines()[0] in user_text
                assert item.provenance[0].task_id != out["task"].id
        recalled_ids = {i for out, _ in later for i in out["memories"]}
        stats = [await bank.store.get(i) for i in recalled_ids]
        assert all(it is None or it.uses >= 1 for it in stats)
        assert any(it and it.successes + it.failures >= 1 for it in stats)  # credited with the outcome
