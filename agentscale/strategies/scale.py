"""``scale(agent, ...)``: a scaling strategy around any agent, as a compiled LangGraph graph, in one line.

Every graph has the same state (``ScaleState``) and the same node names, built from the
public nodes of ``agentscale.strategies``, between ``recall`` and ``remember``:

    best_of_n, majority   prepare -> rollout (xN, Send) -> select
    adaptive              prepare -> rollout (wave) -> assess -> rollout (next wave) ... -> select
    reflect               prepare -> rollout (xN) -> reflect -> rollout (revisions) ... -> select
    evolve                prepare -> rollout (xN) -> evolve -> rollout (children) ... -> select
    first_finish          race (asyncio: first to pass wins, the rest cancelled) [-> select]

``recall`` (first) and ``remember`` (last) are memory-aware scaling: with a bank in
``ScaleContext.memory`` the lessons it recalls reach every rollout's prompt, and after selection
the bank learns from all the task's rollouts and verdicts (see ``agentscale.strategies.lessons``).
Without a bank both do nothing.

Invoke with ``{"task": Task}`` and ``context=ScaleContext(...)``; the final state holds ``selected``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from agentscale.errors import ConfigError
from agentscale.protocols import Selector, Verifier
from agentscale.state import ScaleState
from agentscale.strategies.adaptive import AdaptivePolicy, AssessVote
from agentscale.strategies.context import ScaleContext
from agentscale.strategies.evolve import Evolve, EvolvePolicy
from agentscale.strategies.first_finish import Race
from agentscale.strategies.lessons import Recall, Remember
from agentscale.strategies.reflect import Reflect, ReflectPolicy
from agentscale.strategies.rollouts import Diversity, FanOut, PrepareSamples, RunRollout, fan_out
from agentscale.strategies.select import Select

__all__ = ["STRATEGIES", "scale"]

_DEFAULT_N = 8
_Policy = ReflectPolicy | EvolvePolicy | AdaptivePolicy
# A strategy's builder wires its nodes from _FIRST to _LAST; scale() puts memory around them.
_FIRST, _LAST = "recall", "remember"


def _resolve_selector(selector: Selector | str | None) -> Selector | None:
    if selector is None or not isinstance(selector, str):
        return selector
    from agentscale import registry  # light, but only needed for names

    return registry.create("selectors", selector)


def _expect(policy: Any, kind: type, strategy: str) -> None:
    if policy is not None and not isinstance(policy, kind):
        raise ConfigError(f"strategy {strategy!r} takes a {kind.__name__}, got {type(policy).__name__}")


def _sampling(
    builder: StateGraph, agent: Any, first_wave: int, *, diversity: Diversity, verifier, timeout, plans: int
) -> None:
    builder.add_node("prepare", PrepareSamples(first_wave, diversity=diversity, plans=plans))
    builder.add_node("rollout", RunRollout(agent, verifier=verifier, timeout=timeout))
    builder.add_edge(_FIRST, "prepare")
    builder.add_conditional_edges("prepare", fan_out, ["rollout", "select"])


def _loop(builder: StateGraph, name: str, node: Any) -> None:
    # rollout -> step (one join after the wave) -> the next wave, or select when the step stops
    builder.add_node(name, node)
    builder.add_edge("rollout", name)
    builder.add_conditional_edges(name, FanOut("rollout", "select"), ["rollout", "select"])


def scale(
    agent: Any,
    *,
    strategy: str = "best_of_n",
    n: int | None = None,
    verifier: Verifier | None = None,
    selector: Selector | str | None = None,
    diversity: Diversity | None = None,
    policy: _Policy | None = None,
    plans: int = 0,
    timeout: float | None = None,
    checkpointer: Any = None,
) -> Any:
    """Wrap ``agent`` in a test-time scaling strategy.

    Args:
        agent: an ``Agent``, a compiled LangGraph graph, or an async function (see ``as_agent``).
        strategy: one of ``STRATEGIES``: ``"best_of_n"`` (verify all, keep the best),
            ``"majority"`` (vote), ``"adaptive"`` (waves until the vote is settled),
            ``"first_finish"`` (first to pass wins), ``"reflect"``, ``"evolve"``.
        n: rollouts (``best_of_n``, ``majority``, ``first_finish``), the most rollouts in all
            (``adaptive``), or the first wave (``reflect``, ``evolve``). Default 8.
        verifier: checks each rollout (default: ``ScaleContext.verifier``).
        selector: a ``Selector``, or a registered name that needs no arguments (``"majority"``,
            ``"best_score"``...; see ``agentscale.registry``); LLM selectors (list-wise,
            tournament, synthesis) take their model, so pass them built. Default: the best
            verifier score, or a majority vote for ``majority`` and ``adaptive``.
        diversity: how rollouts differ (temperatures, seeds, prompt variants, models).
        policy: ``ReflectPolicy``, ``EvolvePolicy`` or ``AdaptivePolicy`` for those strategies.
        plans: PlanSearch: write this many natural-language plans with ``ScaleContext.model``
            first and condition the rollouts on them.
        timeout: seconds per rollout (default: ``ScaleContext.rollout_timeout``).
        checkpointer: a LangGraph checkpointer (e.g. from ``sqlite_checkpointer``) so a killed
            run resumes without redoing finished rollouts.

    Returns:
        A compiled graph: ``await graph.ainvoke({"task": task}, context=ScaleContext(...))``.

    Raises:
        ConfigError: an unknown strategy, a bad ``n``, or a policy of the wrong kind.

    Example:
        >>> from agentscale.testing import FakeModel
        >>> from agentscale.agents import LLMAgent
        >>> graph = scale(LLMAgent(FakeModel(["42"], cycle=True)), strategy="best_of_n", n=3)
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'prepare', 'recall', 'remember', 'rollout', 'select']

        With a memory bank (``agentscale.memory.MemoryBank``) in ``ScaleContext(memory=bank,
        model=model)``, lessons recalled for the task reach every rollout's prompt, and the bank
        learns from the task's rollouts afterwards (see ``agentscale.strategies.lessons``).
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    if n is not None and n < 1:
        raise ConfigError(f"n must be >= 1, got {n}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"timeout must be > 0, got {timeout}")
    builder = StateGraph(ScaleState, context_schema=ScaleContext)
    options = {
        "n": n,
        "verifier": verifier,
        "selector": _resolve_selector(selector),
        "diversity": diversity or Diversity(),
        "policy": policy,
        "plans": plans,
        "timeout": timeout,
    }
    builder.add_node(_FIRST, Recall())
    builder.add_node(_LAST, Remember())
    builder.add_edge(START, _FIRST)
    builder.add_edge(_LAST, END)
    steps = STRATEGIES[strategy](builder, agent, strategy=strategy, **options) + 2
    graph = builder.compile(checkpointer=checkpointer, name=f"scale_{strategy}")
    # Each wave, round or generation takes two supersteps; LangGraph's default limit (25) would
    # stop a long adaptive or evolutionary run, so raise it to what the policy can need.
    return graph.with_config(recursion_limit=max(25, steps + 10))


def _fixed(builder, agent, *, strategy, n, verifier, selector, diversity, policy, plans, timeout) -> int:
    _expect(policy, type(None), strategy)
    if strategy == "majority" and selector is None:
        selector = _resolve_selector("majority")
    _sampling(
        builder, agent, n or _DEFAULT_N, diversity=diversity, verifier=verifier, timeout=timeout, plans=plans
    )
    builder.add_edge("rollout", "select")
    builder.add_node("select", Select(selector))
    builder.add_edge("select", _LAST)
    return 4


def _adaptive(builder, agent, *, strategy, n, verifier, selector, diversity, policy, plans, timeout) -> int:
    _expect(policy, AdaptivePolicy, strategy)
    if policy is None:
        total = n or _DEFAULT_N
        policy = AdaptivePolicy(max_samples=total, wave=min(4, total))
    elif n is not None and n != policy.max_samples:
        raise ConfigError(f"n={n} disagrees with AdaptivePolicy(max_samples={policy.max_samples})")
    if selector is None and not policy.stop_on_pass:
        selector = _resolve_selector("majority")
    _sampling(
        builder,
        agent,
        min(policy.wave, policy.max_samples),
        diversity=diversity,
        verifier=verifier,
        timeout=timeout,
        plans=plans,
    )
    _loop(builder, "assess", AssessVote(policy, diversity=diversity))
    builder.add_node("select", Select(selector))
    builder.add_edge("select", _LAST)
    waves = -(-policy.max_samples // min(policy.wave, policy.max_samples))
    return 2 * waves + 3


def _refining(node_type: type, policy_type: type, name: str) -> Callable[..., int]:
    def build(builder, agent, *, strategy, n, verifier, selector, diversity, policy, plans, timeout) -> int:
        _expect(policy, policy_type, strategy)
        _sampling(
            builder,
            agent,
            n or _DEFAULT_N,
            diversity=diversity,
            verifier=verifier,
            timeout=timeout,
            plans=plans,
        )
        node = node_type(policy, diversity=diversity)
        _loop(builder, name, node)
        builder.add_node("select", Select(selector))
        builder.add_edge("select", _LAST)
        rounds = node.policy.max_rounds if isinstance(node, Reflect) else node.policy.generations
        return 2 * (rounds + 1) + 3

    return build


def _first_finish(
    builder, agent, *, strategy, n, verifier, selector, diversity, policy, plans, timeout
) -> int:
    _expect(policy, type(None), strategy)
    if plans:
        raise ConfigError("first_finish does not take plans")
    builder.add_node(
        "race", Race(agent, n or _DEFAULT_N, diversity=diversity, verifier=verifier, timeout=timeout)
    )
    builder.add_node("select", Select(selector))
    builder.add_edge(_FIRST, "race")
    builder.add_conditional_edges("race", _winner_or_select, ["select", _LAST])
    builder.add_edge("select", _LAST)
    return 2


def _winner_or_select(state: ScaleState) -> str:
    return _LAST if state.get("selected") is not None else "select"


STRATEGIES: dict[str, Callable[..., int]] = {
    "best_of_n": _fixed,
    "majority": _fixed,
    "adaptive": _adaptive,
    "reflect": _refining(Reflect, ReflectPolicy, "reflect"),
    "evolve": _refining(Evolve, EvolvePolicy, "evolve"),
    "first_finish": _first_finish,
}
"""Strategy name -> graph builder (``builder, agent, **options``); returns its most supersteps."""
