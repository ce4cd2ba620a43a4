"""Node ``select``: choose the final answer among the successful rollouts, and say what kind of outcome it is.

Failed rollouts (errors, timeouts, budget stops) never reach the selector. The ``Selection`` says
which of three outcomes this is (``status``): ``"chosen"``; ``"none_passed"`` (rollouts ran and
were verified, but none passed; ``rollout_id`` names the best of them); ``"none_ran"`` (no
successful rollout; ``rollout_id`` is ``None``). Running out of candidates is an outcome, not a
crash: callers who want an exception call ``selection.require()``. When the verifier raised on
some rollouts, the reason says so (``"...; verifier failed on 3 of 4 rollouts (TypeError: ...)"``).
With no selector configured, the rollout with the highest verdict score wins (the earliest on
ties; the first to finish when nothing was verified). An LLM selector's calls are charged to the
run's budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.runtime import Runtime

from agentscale.budget import usage_ledger
from agentscale.protocols import Selector
from agentscale.state import ScaleState, SelectedEvent
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["Select", "best_scored", "judge_selection", "make_selector", "resolve_selector"]


def resolve_selector(selector: Selector | str | None) -> Selector | None:
    """A ``Selector``, or one made from its registry name; ``None`` stays ``None``.

    Raises:
        ConfigError: an unknown name, or an object without ``async select``.
    """
    from agentscale.strategies._checks import check_selector

    if isinstance(selector, str):
        from agentscale import registry

        selector = registry.create("selectors", selector)
    return check_selector(selector)


def make_selector(name: str, model: Any = None) -> Selector:
    """A registered selector by name, given ``model`` when it asks for one (``listwise``,
    ``tournament``, ``synthesize``); a command line or a server names selectors this way.

    Raises:
        ConfigError: an unknown name, or a selector that asks for a model when there is none.
    """
    import inspect

    from agentscale import registry
    from agentscale.errors import ConfigError

    factory = registry.load("selectors", name)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    if "model" not in params:
        return registry.create("selectors", name)
    if model is None and params["model"].default is inspect.Parameter.empty:
        raise ConfigError(f"selector {name!r} asks for a model, and this run has none")
    return registry.create("selectors", name, **({"model": model} if model is not None else {}))


def best_scored(rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
    """The rollout with the highest verdict score (earliest wins ties); unverified ones score -1."""
    if not rollouts:
        return Selection(rollout_id=None, reason="no successful rollouts", status="none_ran")
    scores = {r.id: verdicts[r.id].score if r.id in verdicts else -1.0 for r in rollouts}
    best = max(rollouts, key=lambda r: scores[r.id])  # max keeps the first of equals
    return Selection(
        rollout_id=best.id,
        scores={k: v for k, v in scores.items() if v >= 0},
        reason="highest verifier score" if scores[best.id] >= 0 else "first successful rollout (no verdicts)",
    )


def judge_selection(selection: Selection, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
    """``selection`` with its ``status`` set from the rollouts and verdicts, and the verifier's failures in
    its reason."""
    candidates = [r for r in rollouts if r.ok]
    if not candidates:
        failed = [r.error or r.status for r in rollouts]
        return selection.model_copy(
            update={
                "status": "none_ran",
                "errors": failed,
                "reason": f"no successful rollouts ({len(rollouts)} failed or not started)",
            }
        )
    judged = {r.id: verdicts[r.id] for r in candidates if r.id in verdicts}
    status = "none_passed" if judged and not any(v.passed for v in judged.values()) else "chosen"
    reason = selection.reason
    broken = [v.evidence["verifier_error"] for v in judged.values() if v.evidence.get("verifier_error")]
    if broken:
        reason = f"{reason}; verifier failed on {len(broken)} of {len(judged)} rollouts ({broken[0]})".lstrip("; ")
    return selection.model_copy(update={"status": status, "reason": reason})


class Select:
    """Node ``select``.

    Args:
        selector: the selector, or its registry name (default: ``ScaleContext.selector``, else
            ``best_scored``).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(self, selector: Selector | str | None = None, *, context: ScaleContext | None = None) -> None:
        self.selector = resolve_selector(selector)
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        task, update = task_update(state)
        rollouts = list(state.get("rollouts") or [])
        candidates = [r for r in rollouts if r.ok]
        ids = {r.id for r in candidates}
        verdicts = {k: v for k, v in (state.get("verdicts") or {}).items() if k in ids}
        selector = self.selector or ctx.selector
        if not candidates:
            selection = Selection(rollout_id=None)
        elif selector is None:
            selection = best_scored(candidates, verdicts)
        else:
            selection = await _select(selector, task, candidates, verdicts, ctx)
        selection = judge_selection(selection, rollouts, verdicts)
        update["selected"] = selection
        if selection.rollout is not None:  # a selector that writes a new answer (synthesis)
            update["rollouts"] = [selection.rollout]
        runtime.stream_writer(
            SelectedEvent(
                event="selected",
                task_id=task.id,
                rollout_id=selection.rollout_id,
                status=selection.status,
                reason=selection.reason,
            )
        )
        return update


async def _select(
    selector: Selector, task: Task, candidates: list[Rollout], verdicts: dict[str, Verdict], ctx: ScaleContext
) -> Selection:
    # an LLM selector's calls are the run's work too: charged once, whether its client charges or not
    with usage_ledger() as ledger:
        selection = await selector.select(task, candidates, verdicts)
    ledger.settle(ctx.budget)
    return selection
