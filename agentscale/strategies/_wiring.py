"""Wiring shared by the built-in strategies: sample a first wave, loop a step back into the rollouts,
end in ``select``."""

from __future__ import annotations

from typing import Any

from langgraph.graph import StateGraph

from agentscale.protocols import Selector
from agentscale.strategies.rollouts import Diversity, FanOut, PrepareRequests, RunRollout, fan_out
from agentscale.strategies.select import Select
from agentscale.strategies.spec import ScaleSpec


def sample(graph: StateGraph, spec: ScaleSpec, first_wave: int, *, diversity: Diversity, plans: int) -> None:
    """entry -> prepare -> rollout (one ``Send`` per request), or select when there are none."""
    graph.add_node("prepare", PrepareRequests(first_wave, diversity=diversity, plans=plans, context=spec.context))
    graph.add_node(
        "rollout", RunRollout(spec.agent, verifier=spec.verifier, timeout=spec.timeout, context=spec.context)
    )
    graph.add_edge(spec.entry, "prepare")
    graph.add_conditional_edges("prepare", fan_out, ["rollout", "select"])


def loop(graph: StateGraph, name: str, node: Any) -> None:
    """rollout -> step (one join after the wave) -> the next wave, or select when the step stops."""
    graph.add_node(name, node)
    graph.add_edge("rollout", name)
    graph.add_conditional_edges(name, FanOut("rollout", "select"), ["rollout", "select"])


def select(graph: StateGraph, spec: ScaleSpec, selector: Selector | None) -> None:
    """select -> exit."""
    graph.add_node("select", Select(selector, context=spec.context))
    graph.add_edge("select", spec.exit)
