"""``scale(agent, strategy)``: a scaling strategy around any agent, as a compiled LangGraph graph, in one line.

Every graph has the same state (``ScaleState``) and is built the same way: ``recall`` first,
``remember`` last, and between them whatever the strategy's ``build`` wires (see
``agentscale.protocols.Strategy``). The built-ins:

    BestOfN, Majority   prepare -> rollout (xN, Send) -> select
    Adaptive            prepare -> rollout (wave) -> assess -> rollout (next wave) ... -> select
    Reflect             prepare -> rollout (xN) -> reflect -> rollout (revisions) ... -> select
    Evolve              prepare -> rollout (xN) -> evolve -> rollout (children) ... -> select
    FirstFinish         race (asyncio: first to pass wins, the rest cancelled) [-> select]

A strategy is named (``"best_of_n"``, resolved through ``agentscale.registry``'s ``strategies``
group, where plugins add theirs) or given as an object. ``recall`` (first) and ``remember`` (last)
are memory-aware scaling: with a bank in ``ScaleContext.memory`` the lessons it recalls reach every
rollout's request, and after selection the bank learns from all the task's rollouts and verdicts
(see ``agentscale.strategies.lessons``). Without a bank both do nothing.

Invoke with ``{"task": Task}`` (or a prompt string) and ``context=ScaleContext(...)``; the final
state holds ``selected``.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agentscale.agents import as_agent
from agentscale.errors import ConfigError
from agentscale.protocols import Selector, Strategy, Verifier
from agentscale.state import ScaleState
from agentscale.strategies._checks import check_strategy, check_verifier
from agentscale.strategies.context import ScaleContext
from agentscale.strategies.lessons import Recall, Remember
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec

__all__ = ["resolve_strategy", "resolve_verifier", "scale"]

_ENTRY, _EXIT = "recall", "remember"


def resolve_strategy(strategy: Strategy | str, n: int | None = None, **options: Any) -> Strategy:
    """A ``Strategy``: one made from its registry name with ``n`` and ``options``, or the object given.

    Raises:
        ConfigError: an unknown name, options its constructor does not take (named), options
            given with an object, or an object without ``build``.
    """
    if isinstance(strategy, str):
        from agentscale import registry

        kwargs = {**options, **({"n": n} if n is not None else {})}
        return check_strategy(registry.create("strategies", strategy, **kwargs))
    if n is not None or options:
        given = ", ".join(sorted([*options, *(["n"] if n is not None else [])]))
        raise ConfigError(
            f"{given} go to a strategy given by name; {type(strategy).__name__} is already built: set them on it"
        )
    return check_strategy(strategy)


def resolve_verifier(verifier: Verifier | str | None) -> Verifier | None:
    """A ``Verifier``, or one made from its registry name; ``None`` stays ``None``.

    Raises:
        ConfigError: an unknown name, or an object without ``async verify``.
    """
    if isinstance(verifier, str):
        from agentscale import registry

        verifier = registry.create("verifiers", verifier)
    return check_verifier(verifier)


def scale(
    agent: Any,
    strategy: Strategy | str = "best_of_n",
    *,
    n: int | None = None,
    verifier: Verifier | str | None = None,
    selector: Selector | str | None = None,
    timeout: float | None = None,
    checkpointer: Any = None,
    context: ScaleContext | None = None,
    **options: Any,
) -> Any:
    """Wrap ``agent`` in a test-time scaling strategy.

    Args:
        agent: an ``Agent``, a compiled LangGraph graph, or an async function (see ``as_agent``).
        strategy: a ``Strategy`` object (``BestOfN(n=8)``, ``Reflect(policy=...)``, your own), or a
            name from ``registry.available("strategies")``: ``"best_of_n"``, ``"majority"``,
            ``"adaptive"``, ``"reflect"``, ``"evolve"``, ``"first_finish"``, ``"wider_deeper"``, ``"pdr"``,
            ``"planned"``, or a plugin's.
        n: for a named strategy, its ``n`` (rollouts; the most in all for ``adaptive``; the first
            wave for ``reflect`` and ``evolve``). Default: the strategy's own (8).
        verifier: checks each rollout: a ``Verifier`` or a registry name that needs no arguments
            (default: ``ScaleContext.verifier``).
        selector: picks the answer: a ``Selector`` or a registry name that needs no arguments;
            wins over the strategy's own default (LLM selectors take their model: pass them built).
        timeout: seconds per rollout (default: ``ScaleContext.rollout_timeout``).
        checkpointer: a LangGraph checkpointer (e.g. from ``sqlite_checkpointer``) so a killed
            run resumes without redoing finished rollouts.
        context: the ``ScaleContext`` this graph uses when it runs with another context type (as
            a node of your own graph); a ``ScaleContext`` given at run time still wins.
        **options: for a named strategy, the rest of its constructor's arguments (``diversity=``,
            ``policy=``, ``plans=``...).

    Returns:
        A compiled graph: ``await graph.ainvoke({"task": task}, context=ScaleContext(...))``.

    Raises:
        ConfigError: an unknown strategy, verifier or selector name; an option the strategy does
            not take; a bad ``n`` (not an int >= 1) or ``timeout``; a selector without ``async
            select`` or a verifier without ``async verify``; an agent that cannot be adapted.

    Example:
        >>> from agentscale.testing import FakeModel
        >>> from agentscale.agents import LLMAgent
        >>> graph = scale(LLMAgent(FakeModel(["42"], cycle=True)), "best_of_n", n=3)
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'prepare', 'recall', 'remember', 'rollout', 'select']
    """
    adapted = as_agent(agent)
    chosen = resolve_strategy(strategy, n, **options)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ConfigError(f"timeout must be a number > 0, got {timeout!r}")
    if context is not None and not isinstance(context, ScaleContext):
        raise ConfigError(f"context must be a ScaleContext, got {type(context).__name__}")
    spec = ScaleSpec(
        agent=adapted,
        verifier=resolve_verifier(verifier),
        selector=resolve_selector(selector),
        timeout=timeout,
        context=context,
        entry=_ENTRY,
        exit=_EXIT,
    )
    builder = StateGraph(ScaleState, context_schema=ScaleContext)
    builder.add_node(_ENTRY, Recall(context=context))
    builder.add_node(_EXIT, Remember(context=context))
    builder.add_edge(START, _ENTRY)
    builder.add_edge(_EXIT, END)
    steps = chosen.build(builder, spec)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"{type(chosen).__name__}.build must return its most supersteps (an int >= 1), got {steps!r}")
    name = getattr(chosen, "name", None) or type(chosen).__name__
    graph = builder.compile(checkpointer=checkpointer, name=f"scale_{name}")
    # Each wave, round or generation takes two supersteps; LangGraph's default limit (25) would
    # stop a long adaptive or evolutionary run, so raise it to what the strategy can need.
    return graph.with_config(recursion_limit=max(25, steps + 2 + 10))
