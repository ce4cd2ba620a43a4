"""A strategy defined outside the package, registered through the entry-point group, run by name.

``Sequential`` refines one rollout at a time: each new rollout gets the previous one as its
candidate, until one passes or ``n`` have run. It is built only from public pieces
(``PrepareRequests``, ``RunRollout``, ``FanOut``, ``Select``, ``ScaleSpec``), as a plugin would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest
from _strategy_helpers import ScoreVerifier, rollout
from langgraph.graph import StateGraph

from agentscale import ConfigError, RolloutRequest, Task, registry
from agentscale.strategies import (
    Diversity,
    FanOut,
    PrepareRequests,
    RunRollout,
    ScaleContext,
    ScaleSpec,
    Select,
    context_of,
    fan_out,
    scale,
)
from agentscale.types import Candidate

TASK = Task(id="t", prompt="Write a long word.")


class NextAttempt:
    """Node: stop on a pass or after ``n`` rollouts, else ask for one more refining the last."""

    def __init__(self, n: int, context: ScaleContext | None) -> None:
        self.n, self.context = n, context

    async def __call__(self, state: dict[str, Any], runtime) -> dict[str, Any]:
        context_of(runtime, self.context)  # the run's context, or scale()'s default
        rollouts, verdicts = state["rollouts"], state.get("verdicts") or {}
        last = rollouts[-1]
        verdict = verdicts.get(last.id)
        if (verdict is not None and verdict.passed) or len(rollouts) >= self.n:
            return {"requests": [], "stop_reason": "done"}
        candidate = Candidate(
            rollout_id=last.id, output=last.output, score=verdict.score if verdict else None,
            feedback=verdict.feedback if verdict else "",
        )  # fmt: skip
        request = Diversity().request(len(rollouts), strategy="sequential", parents=[last.id], candidates=[candidate])
        return {"requests": [request], "round": len(rollouts)}


@dataclass(frozen=True)
class Sequential:
    name: ClassVar[str] = "sequential"
    n: int = 4

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        graph.add_node("prepare", PrepareRequests(1, context=spec.context))
        graph.add_node("rollout", RunRollout(spec.agent, verifier=spec.verifier, context=spec.context))
        graph.add_node("next", NextAttempt(self.n, spec.context))
        graph.add_node("select", Select(spec.selector, context=spec.context))
        graph.add_edge(spec.entry, "prepare")
        graph.add_conditional_edges("prepare", fan_out, ["rollout", "select"])
        graph.add_edge("rollout", "next")
        graph.add_conditional_edges("next", FanOut("rollout", "select"), ["rollout", "select"])
        graph.add_edge("select", spec.exit)
        return 2 * self.n + 2


@pytest.fixture
def plugin(monkeypatch):
    eps = [EntryPoint("sequential", f"{__name__}:Sequential", "agentscale.strategies")]
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [ep for ep in eps if ep.group == group])


async def test_a_registered_strategy_runs_through_scale_by_name(plugin):
    assert "sequential" in registry.available("strategies")

    async def agent(task: Task, request: RolloutRequest):
        previous = request.candidates[0].output if request.candidates else ""
        return rollout(task, previous + "a")

    verifier = ScoreVerifier(lambda s: len(s) / 3)  # "aaa" passes
    graph = scale(agent, "sequential", n=5, verifier=verifier)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert [r.output for r in state["rollouts"]] == ["a", "aa", "aaa"]
    assert [r.provenance.strategy for r in state["rollouts"]] == ["sample", "sequential", "sequential"]
    assert state["stop_reason"] == "done"
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].require(passed=True))
    assert winner.output == "aaa"


def test_a_plugins_options_are_checked_like_a_builtins(plugin):
    async def agent(task):
        return "x"

    with pytest.raises(ConfigError, match="strategy 'sequential' takes no option 'width'"):
        scale(agent, "sequential", width=2)
    with pytest.raises(ConfigError, match="unknown strategy 'sequentail'"):
        scale(agent, "sequentail")
