"""Evolution on a toy objective: candidates are numbers, the score is n / 10, children improve parents."""

from __future__ import annotations

import re

import pytest
from _strategy_helpers import ScoreVerifier, rollout

from agentscale import ConfigError, RolloutRequest, Task
from agentscale.prompts import render_request
from agentscale.strategies import MUTATE, RECOMBINE, EvolvePolicy, ScaleContext, population, scale
from agentscale.types import Rollout, Verdict

TASK = Task(id="t", prompt="Name a big number.")
PARENT = re.compile(r'<candidate score="[\d.]+">\n(\d+)\n</candidate>')


def _toy_agent(log: list[tuple[str, list[int]]]):
    async def agent(task: Task, request: RolloutRequest):
        if request.strategy == "sample":
            return rollout(task, str(1 + request.index % 2))  # 1, 2, 1, 2: score 0.1-0.2
        parents = [int(c.output) for c in request.candidates]
        assert [c.rollout_id for c in request.candidates] == request.parents
        # the default rendering shows every parent with its score, and what to do with them
        assert [int(x) for x in PARENT.findall(render_request(task, request))] == parents
        kind = "mutate" if len(parents) == 1 else "recombine"
        assert request.feedback == (MUTATE if kind == "mutate" else RECOMBINE)
        log.append((kind, parents))
        child = max(parents) + 1 if kind == "mutate" else sum(parents)
        return rollout(task, str(child))

    return agent


async def test_evolution_raises_the_score_until_the_target():
    log: list[tuple[str, list[int]]] = []
    verifier = ScoreVerifier(lambda s: int(s) / 10)
    events = []
    graph = scale(
        _toy_agent(log),
        strategy="evolve",
        n=4,
        verifier=verifier,
        policy=EvolvePolicy(generations=10, target=1.0, elites=1, mutation_rate=0.5, seed=3),
    )
    state = None
    async for mode, chunk in graph.astream(
        {"task": TASK}, context=ScaleContext(), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and chunk["event"] == "generation":
            events.append(chunk)
        if mode == "values":
            state = chunk
    best = [e["best_score"] for e in events]
    assert best[0] == pytest.approx(0.2)
    assert best == sorted(best)  # elites are kept: the best never gets worse
    assert best[-1] == 1.0 and state["stop_reason"] == "target"
    assert 1 <= state["round"] < 10
    assert {kind for kind, _ in log} == {"mutate", "recombine"}
    assert events[0]["duplicates"] == 2  # 1, 2, 1, 2 -> two unique candidates
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert int(winner.output) >= 10


async def test_evolution_stops_at_the_generation_limit():
    log: list[tuple[str, list[int]]] = []
    graph = scale(
        _toy_agent(log),
        strategy="evolve",
        n=2,
        verifier=ScoreVerifier(lambda s: int(s) / 100),
        policy=EvolvePolicy(generations=2, children=3),
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert state["stop_reason"] == "generations" and state["round"] == 2
    assert len(state["rollouts"]) == 2 + 3 + 3
    # the elite (the best so far) is always a parent of the next generation's first child
    gen1 = sorted(
        (r for r in state["rollouts"] if r.provenance.generation == 1), key=lambda r: r.metadata["index"]
    )
    best0 = max((r for r in state["rollouts"] if r.provenance.generation == 0), key=lambda r: int(r.output))
    assert gen1[0].provenance.parents == [best0.id]


def test_population_drops_duplicates_and_ranks_by_score():
    rs = [
        Rollout(id=i, task_id="t", output=o)
        for i, o in [("a", "x = 1"), ("b", "x  =  1"), ("c", "y"), ("d", "z")]
    ]
    vs = {
        "a": Verdict(rollout_id="a", score=0.2, passed=False),
        "b": Verdict(rollout_id="b", score=0.5, passed=False),
        "c": Verdict(rollout_id="c", score=0.9, passed=False),
    }  # d has no verdict: not in the population
    ranked, dups = population(rs, vs)
    assert [r.id for r in ranked] == ["c", "b"] and dups == 1


def test_policy_validation():
    with pytest.raises(ConfigError):
        EvolvePolicy(parents=1)
    with pytest.raises(ConfigError):
        EvolvePolicy(mutation_rate=2)


async def test_many_generations_fit_in_the_graphs_step_limit():
    graph = scale(
        _toy_agent([]),
        strategy="evolve",
        n=1,
        verifier=ScoreVerifier(lambda s: int(s) / 1000),
        policy=EvolvePolicy(generations=20, elites=1),
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert state["stop_reason"] == "generations" and state["round"] == 20
