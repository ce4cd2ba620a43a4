"""Wider-or-deeper search (AB-MCTS): where the Thompson policy goes, what a refinement is asked,
what streams, and that a resumed run redoes no finished rollout. Scripted agents and verifiers:
the scores are the outputs, so each scenario says exactly what refining does."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest
from _strategy_helpers import ScoreVerifier, rollout
from langgraph.checkpoint.memory import InMemorySaver

from agentscale import ConfigError, RolloutRequest, Task, Usage, registry
from agentscale.strategies import (
    Diversity,
    ScaleContext,
    SearchPolicy,
    WiderDeeper,
    scale,
    search_tree,
    state_serializer,
)
from agentscale.types import Provenance, Rollout, Verdict

TASK = Task(id="t", prompt="Find a good number.")
SCORE = ScoreVerifier(lambda s: float(s))


def scripted(fresh: float, refine: Callable[[float], float], seen: list[RolloutRequest] | None = None):
    """Fresh samples answer ``fresh``; a refinement answers ``refine(its candidate's answer)``."""

    async def agent(task: Task, request: RolloutRequest):
        if seen is not None:
            seen.append(request)
        if request.candidates:
            return rollout(task, f"{refine(float(request.candidates[0].output)):.3f}")
        return rollout(task, f"{fresh:.3f}")

    return agent


async def _refined_share(fresh: float, refine: Callable[[float], float], *, dist: str) -> tuple[float, float]:
    """Over 10 seeded searches of 16 rollouts: the share of refinements, and the mean tree depth."""
    refined = depth = 0
    for seed in range(10):
        strategy = WiderDeeper(n=16, batch=2, policy=SearchPolicy(seed=seed, dist=dist))
        state = await scale(scripted(fresh, refine), strategy, verifier=SCORE).ainvoke(
            {"task": TASK}, context=ScaleContext()
        )
        tree = search_tree(state["rollouts"], state["verdicts"])
        assert len(tree.nodes) == 16 and state["stop_reason"] == "max rollouts"
        refined += sum(1 for node in tree.nodes.values() if node.parent is not None)
        depth += max(node.depth for node in tree.nodes.values())
    return refined / 160, depth / 10


@pytest.mark.parametrize("dist", ["beta", "gaussian"])
async def test_goes_deeper_when_refinements_raise_the_score_and_wider_when_they_stall(dist):
    climbing = await _refined_share(0.2, lambda p: min(p + 0.15, 0.99), dist=dist)
    stalling = await _refined_share(0.4, lambda p: p, dist=dist)  # a revision scores what its parent did
    worse = await _refined_share(0.4, lambda p: p / 2, dist=dist)
    assert climbing[0] > 0.5 and climbing[1] >= 3  # most nodes are refinements, and chains grow
    assert stalling[0] < 0.3 and worse[0] < 0.3  # most nodes are fresh samples
    assert climbing[1] > stalling[1]


async def test_a_refinement_carries_its_node_with_score_and_feedback():
    seen: list[RolloutRequest] = []
    strategy = WiderDeeper(n=8, batch=2, policy=SearchPolicy(seed=1))
    state = await scale(scripted(0.2, lambda p: p + 0.2, seen), strategy, verifier=SCORE).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    by_id = {r.id: r for r in state["rollouts"]}
    refinements = [r for r in seen if r.strategy == "refine"]
    assert refinements, "the climbing scenario should refine at least once"
    tree = search_tree(state["rollouts"], state["verdicts"])
    for request in refinements:
        (candidate,) = request.candidates
        parent = by_id[candidate.rollout_id]
        assert request.parents == [parent.id]
        assert candidate.output == parent.output
        assert candidate.score == state["verdicts"][parent.id].score
        assert candidate.feedback == f"score was {candidate.score:.2f}"
        assert request.generation == tree.nodes[parent.id].depth  # the child sits one level below
        assert "corrected" in request.feedback
    # the node ids in the state are the tree: every refinement hangs under the rollout it refined
    for node in tree.nodes.values():
        if node.parent is not None:
            assert by_id[node.id].provenance.parents == [node.parent]
            assert node.depth == tree.nodes[node.parent].depth + 1


async def test_fresh_samples_draw_what_best_of_n_draws():
    seen: list[RolloutRequest] = []
    diversity = Diversity(temperatures=(0.2, 0.6, 0.8, 1.0), seed=0)
    strategy = WiderDeeper(n=10, batch=3, diversity=diversity, policy=SearchPolicy(seed=3))
    graph = scale(scripted(0.3, lambda p: p, seen), strategy, verifier=SCORE)
    await graph.ainvoke({"task": TASK}, context=ScaleContext())
    fresh = [r for r in sorted(seen, key=lambda r: r.index) if r.strategy != "refine"]
    assert [(r.seed, r.temperature) for r in fresh] == [
        (diversity.request(k).seed, diversity.request(k).temperature) for k in range(len(fresh))
    ]
    assert sorted(r.index for r in seen) == list(range(10))  # indices stay unique


async def test_stops_at_the_target_and_selects_the_best_node():
    strategy = WiderDeeper(n=20, batch=2, target=0.9, policy=SearchPolicy(seed=0))
    state = await scale(scripted(0.5, lambda p: p + 0.2), strategy, verifier=SCORE).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    assert state["stop_reason"] == "target"
    assert len(state["rollouts"]) < 20
    best = max(state["verdicts"].values(), key=lambda v: v.score)
    assert state["selected"].rollout_id == best.rollout_id and best.score >= 0.9


async def test_the_tree_streams_live():
    strategy = WiderDeeper(n=6, batch=2, policy=SearchPolicy(seed=2))
    graph = scale(scripted(0.2, lambda p: p + 0.2), strategy, verifier=SCORE)
    nodes, steps = [], []
    async for mode, chunk in graph.astream(
        {"task": TASK}, context=ScaleContext(), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and chunk["event"] == "search_node":
            nodes.append(chunk)
        elif mode == "custom" and chunk["event"] == "search_step":
            steps.append(chunk)
        elif mode == "values":
            state = chunk
    assert len(nodes) == 6
    assert {n["rollout_id"] for n in nodes} == {r.id for r in state["rollouts"]}
    for node in nodes:
        assert node["score"] == state["verdicts"][node["rollout_id"]].score
        assert (node["parent"] is None) == (node["decision"] == "wider") == (node["depth"] == 1)
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    assert [len(s["decisions"]) for s in steps] == [2, 2, 2, 0]
    assert steps[0]["decisions"] == [{"decision": "wider", "parent": None}] * 2  # an empty tree widens
    assert steps[-1]["stop_reason"] == "max rollouts" and steps[-1]["nodes"] == 6
    deeper = [d for s in steps for d in s["decisions"] if d["decision"] == "deeper"]
    assert all(d["parent"] in state["verdicts"] for d in deeper)


async def test_a_failed_rollout_is_a_dead_leaf_and_the_search_goes_on():
    async def agent(task: Task, request: RolloutRequest):
        if request.index == 0:
            raise RuntimeError("tool crashed")
        if request.candidates:
            return rollout(task, f"{float(request.candidates[0].output) + 0.1:.3f}")
        return rollout(task, "0.300")

    strategy = WiderDeeper(n=8, batch=2, policy=SearchPolicy(seed=0))
    state = await scale(agent, strategy, verifier=SCORE).ainvoke({"task": TASK}, context=ScaleContext())
    (failed,) = [r for r in state["rollouts"] if r.status == "error"]
    assert len(state["rollouts"]) == 8
    assert not any(failed.id in r.provenance.parents for r in state["rollouts"])  # never refined
    assert search_tree(state["rollouts"], state["verdicts"]).nodes[failed.id].score == 0.0
    assert state["selected"].rollout_id not in (None, failed.id)


async def test_without_a_verifier_it_says_so():
    graph = scale(scripted(0.3, lambda p: p), WiderDeeper(n=4))
    with pytest.raises(ConfigError, match="needs a verifier"):
        await graph.ainvoke({"task": TASK}, context=ScaleContext())


async def test_by_name_and_bad_options():
    assert registry.load("strategies", "wider_deeper") is WiderDeeper
    state = await scale(scripted(0.3, lambda p: p), "wider_deeper", n=3, batch=3, verifier=SCORE).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    assert len(state["rollouts"]) == 3
    for bad in ({"batch": 0}, {"target": 1.5}, {"policy": "beta"}, {"depth": 3}):
        with pytest.raises(ConfigError):
            scale(scripted(0.3, lambda p: p), "wider_deeper", **bad)
    for bad in ({"dist": "cauchy"}, {"credit": "gain"}, {"max_depth": 0}):
        with pytest.raises(ConfigError):
            SearchPolicy(**bad)


async def test_the_budget_stops_it_with_what_it_has():
    from agentscale import Budget

    strategy = WiderDeeper(n=50, batch=2, policy=SearchPolicy(seed=0))
    budget = Budget(max_tokens=100)  # each scripted rollout costs 20 tokens
    state = await scale(scripted(0.3, lambda p: p), strategy, verifier=SCORE).ainvoke(
        {"task": TASK}, context=ScaleContext(budget=budget)
    )
    assert state["stop_reason"] == "budget"
    assert 5 <= len([r for r in state["rollouts"] if r.ok]) <= 6
    assert state["selected"].rollout_id is not None


class Crash(BaseException):
    """Kills the run the way a dying process would: not an ``Exception``, so nothing turns it into data."""


async def test_a_crashed_run_resumes_without_redoing_finished_rollouts():
    calls: list[int] = []
    armed = {"crash": False}

    async def agent(task: Task, request: RolloutRequest):
        calls.append(request.index)
        if request.index == 4 and armed["crash"]:
            armed["crash"] = False
            await asyncio.sleep(0.1)  # its siblings in the step finish (and are saved) first
            raise Crash
        if request.candidates:
            return rollout(task, f"{min(float(request.candidates[0].output) + 0.1, 0.95):.3f}")
        return rollout(task, "0.300")

    def build(checkpointer=None):
        return scale(agent, WiderDeeper(n=10, batch=3, policy=SearchPolicy(seed=5)), verifier=SCORE,
                     checkpointer=checkpointer)  # fmt: skip

    reference = await build().ainvoke({"task": TASK}, context=ScaleContext())
    reference_tree = search_tree(reference["rollouts"], reference["verdicts"])
    calls.clear()
    armed["crash"] = True

    graph = build(InMemorySaver(serde=state_serializer()))
    config = {"configurable": {"thread_id": "run-1"}}
    with pytest.raises(Crash):
        await graph.ainvoke({"task": TASK}, config=config, context=ScaleContext(), durability="sync")
    assert calls == [0, 1, 2, 3, 4, 5]  # the second step (3, 4, 5) was running when 4 crashed
    state = await graph.ainvoke(None, config=config, context=ScaleContext(), durability="sync")
    assert sorted(calls) == [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9]  # only the crashed rollout ran again
    tree = search_tree(state["rollouts"], state["verdicts"])
    shape = sorted((n.index, n.depth, n.score) for n in tree.nodes.values())
    assert shape == sorted((n.index, n.depth, n.score) for n in reference_tree.nodes.values())


def _node(rid: str, index: int, score: float, parent: str | None = None, status: str = "ok") -> Rollout:
    return Rollout(
        id=rid,
        task_id="t",
        status=status,
        output=str(score),
        usage=Usage(),
        provenance=Provenance(strategy="refine" if parent else "sample", parents=[parent] if parent else []),
        metadata={"index": index},
    )


def test_rewards_credit_only_improvements_by_default():
    rollouts = [_node("a", 0, 0.4), _node("b", 1, 0.4, "a"), _node("c", 2, 0.6, "a"), _node("d", 3, 0.5, "c")]
    verdicts = {r.id: Verdict(rollout_id=r.id, score=float(r.output), passed=False) for r in rollouts}
    tree = search_tree(rollouts, verdicts)
    assert {k: n.reward for k, n in tree.nodes.items()} == {"a": 0.4, "b": 0.0, "c": 0.6, "d": 0.0}
    assert tree.nodes["a"].children == ["b", "c"] and tree.nodes["d"].depth == 3
    raw = search_tree(rollouts, verdicts, credit="score")
    assert {k: n.reward for k, n in raw.nodes.items()} == {"a": 0.4, "b": 0.4, "c": 0.6, "d": 0.5}
    assert {n.id for n in tree.below(["a"])} == {"b", "c", "d"} and {n.id for n in tree.below(["c"])} == {"d"}


def test_the_policy_respects_max_depth_and_never_refines_a_failed_node():
    rollouts = [_node("a", 0, 0.9), _node("b", 1, 0.95, "a"), _node("x", 2, 0.0, status="error")]
    verdicts = {r.id: Verdict(rollout_id=r.id, score=float(r.output), passed=False) for r in rollouts if r.ok}
    tree = search_tree(rollouts, verdicts)
    rng = random.Random(0)
    decisions = tree.decide(200, SearchPolicy(max_depth=2), rng)
    assert {d.parent for d in decisions} <= {None, "a"}  # b is at the depth limit, x failed
    assert any(d.kind == "deeper" for d in decisions) and any(d.kind == "wider" for d in decisions)
