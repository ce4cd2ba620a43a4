"""Trajectory summaries: the model writes them for agent rollouts (structured output), a deterministic
one stands in for single-shot rollouts and for a model that fails."""

from __future__ import annotations

import json

from agentscale import Budget, Rollout, Task, Verdict
from agentscale.errors import ModelAPIError
from agentscale.summaries import SUMMARY_SCHEMA, Summarizer, has_steps, summary_candidate, summary_of
from agentscale.testing import FunctionModel
from agentscale.types import Completion, Usage

TASK = Task(id="t", prompt="Make the failing test pass.")


def agent_rollout(rid: str = "r1") -> Rollout:
    trajectory = [
        {"role": "user", "content": "Make the failing test pass."},
        {"role": "assistant", "content": "Let me run the tests.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "pytest -x"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c1", "name": "bash",
         "content": "E   AssertionError: 3 != 4\nFAILED t.py::test_add"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "edit", "arguments": '{"path": "a.py"}'}},
        ]},
        {"role": "tool", "tool_call_id": "c2", "name": "edit", "content": "edited a.py"},
    ]  # fmt: skip
    patch = "diff --git a/a.py b/a.py\n-    return a + b - 1\n+    return a + b"
    return Rollout(id=rid, task_id="t", output=patch, trajectory=trajectory)


def test_a_single_shot_rollout_is_summarised_without_a_model():
    rollout = Rollout(id="s", task_id="t", output="def add(a, b):\n    return a - b")
    feedback = "ok add(0, 0)\nFAIL add(1, 2): expected 3, got -1"
    verdict = Verdict(rollout_id="s", score=0.5, passed=False, feedback=feedback)
    summary = summary_of(rollout, verdict)
    assert not has_steps(rollout)
    assert summary.source == "output" and summary.hypotheses == []
    assert summary.failure_modes == ["FAIL add(1, 2): expected 3, got -1"]
    assert summary.final == rollout.output and summary.score == 0.5
    assert summary.text().endswith(rollout.output) and "Failures: FAIL add(1, 2)" in summary.text()
    assert summary_of(rollout).text() == rollout.output  # no verdict: just the answer


async def test_an_agent_rollout_is_summarised_by_the_model_with_its_steps():
    def reply(call):
        return json.dumps(
            {"hypotheses": ["off-by-one in add"], "progress": "found it", "failure_modes": ["test_add failed"]}
        )

    model = FunctionModel(reply)
    verdict = Verdict(rollout_id="r1", score=1.0, passed=True, feedback="2 tests pass")
    summary = await Summarizer(model).summarize(TASK, agent_rollout(), verdict)
    assert summary.source == "model"
    assert summary.hypotheses == ["off-by-one in add"] and summary.failure_modes == ["test_add failed"]
    assert summary.final == agent_rollout().output  # the real change, never a paraphrase
    (call,) = model.calls
    asked = call.prompt[-1]["content"]
    for seen in ("ACTION bash", "pytest -x", "OBSERVED E   AssertionError: 3 != 4", "ACTION edit", "2 tests pass"):
        assert seen in asked


async def test_a_schema_taking_model_gets_the_summary_schema_and_the_budget_is_charged():
    class SchemaModel:
        def __init__(self):
            self.schemas = []

        async def generate(self, prompt, *, json_schema=None, **options):
            self.schemas.append(json_schema)
            text = json.dumps({"hypotheses": ["a"], "progress": "b", "failure_modes": []})
            return Completion(model="m", texts=[text], usage=Usage(prompt_tokens=100, completion_tokens=20, calls=1))

    model, budget = SchemaModel(), Budget(max_tokens=1000)
    summary = await Summarizer(model).summarize(TASK, agent_rollout(), budget=budget)
    assert model.schemas == [SUMMARY_SCHEMA] and summary.progress == "b"
    assert budget.spent.total_tokens == 120
    assert "final" not in SUMMARY_SCHEMA["properties"]


async def test_a_failing_or_mumbling_model_gives_the_trajectory_summary():
    def broken(call):
        raise ModelAPIError("server gone", model="m", api_base="x")

    for model in (FunctionModel(broken), FunctionModel(lambda call: "I think it went fine.")):
        summary = await Summarizer(model).summarize(TASK, agent_rollout())
        assert summary.source == "trajectory"
        assert summary.hypotheses == ['bash({"cmd": "pytest -x"})', 'edit({"path": "a.py"})']
        assert any("FAILED t.py::test_add" in f for f in summary.failure_modes)
        assert "last observation: edited a.py" in summary.progress
    spent = Budget(max_tokens=1)
    spent.charge(Usage(prompt_tokens=5))
    model = FunctionModel(lambda call: "{}")
    assert (await Summarizer(model).summarize(TASK, agent_rollout(), budget=spent)).source == "trajectory"
    assert not model.calls  # the spent budget stopped the call before it was made


async def test_summaries_become_candidates_and_summarize_all_keeps_ids():
    rollouts = [agent_rollout("a"), Rollout(id="b", task_id="t", output="42")]
    verdicts = {"b": Verdict(rollout_id="b", score=0.0, passed=False, feedback="FAIL expected 41")}
    summaries = await Summarizer(None).summarize_all(TASK, rollouts, verdicts)
    assert set(summaries) == {"a", "b"} and summaries["a"].source == "trajectory"
    candidate = summary_candidate(summaries["b"], rollouts[1], verdicts["b"])
    assert candidate.rollout_id == "b" and candidate.output == "42"
    assert candidate.feedback == "FAIL expected 41" and candidate.score == 0.0
    assert candidate.observations == "Failures: FAIL expected 41"
    long = Rollout(id="c", task_id="t", output="x" * 10_000)
    assert len(summary_of(long).text(max_chars=2000)) < 2100
