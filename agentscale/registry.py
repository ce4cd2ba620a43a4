"""Short names for pluggable components: ``"majority"`` -> ``...majority_vote:MajorityVote``.

Five groups: ``strategies``, ``selectors``, ``verifiers``, ``sandboxes``, ``workflows``. Each name
maps to a ``"module:attr"`` string, imported only when looked up. Built-ins are listed below;
plugins add names through the entry-point groups ``agentscale.<group>`` (``agentscale.strategies``,
``agentscale.selectors``, ``agentscale.verifiers``, ``agentscale.sandboxes``, ``agentscale.workflows``)::

    [project.entry-points."agentscale.strategies"]
    beam = "my_package.strategies:Beam"       # then scale(agent, "beam", n=8, width=2)

Built-ins are loaded exactly as plugins are (as ``importlib.metadata.EntryPoint``s), so that path
is always exercised. A plugin cannot replace a built-in name: the built-in wins.

Example:
    >>> from agentscale import registry
    >>> registry.create("selectors", "majority").name
    'majority'
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from agentscale.errors import ConfigError

__all__ = ["BUILTINS", "GROUPS", "available", "create", "load"]

GROUPS = ("strategies", "selectors", "verifiers", "sandboxes", "workflows")

_SINGULAR = {
    "strategies": "strategy", "selectors": "selector", "verifiers": "verifier", "sandboxes": "sandbox",
    "workflows": "workflow",
}

BUILTINS: dict[str, dict[str, str]] = {
    "strategies": {
        "best_of_n": "agentscale.strategies.best_of_n:BestOfN",
        "majority": "agentscale.strategies.majority:Majority",
        "adaptive": "agentscale.strategies.adaptive:Adaptive",
        "reflect": "agentscale.strategies.reflect:Reflect",
        "evolve": "agentscale.strategies.evolve:Evolve",
        "first_finish": "agentscale.strategies.first_finish:FirstFinish",
        "wider_deeper": "agentscale.strategies.wider_deeper:WiderDeeper",
        "pdr": "agentscale.strategies.pdr:ParallelDistillRefine",
        "planned": "agentscale.strategies.planned:Planned",
    },
    "selectors": {
        "majority": "agentscale.selectors.majority_vote:MajorityVote",
        "weighted_vote": "agentscale.selectors.weighted_vote:WeightedVote",
        "best_score": "agentscale.selectors.best_score:BestScore",
        "best_of_majority": "agentscale.selectors.best_of_majority:BestOfMajority",
        "listwise": "agentscale.selectors.listwise:ListwiseSelector",
        "tournament": "agentscale.selectors.tournament:KnockoutTournament",
        "rtv": "agentscale.selectors.rtv:RecursiveTournament",
        "synthesize": "agentscale.selectors.synthesis:Synthesize",
        "behaviour_vote": "agentscale.selectors.behaviour_vote:BehaviourVote",
        "action_vote": "agentscale.selectors.action_vote:ActionVote",
        "behaviour_cluster": "agentscale.selectors.behaviour_cluster:BehaviourCluster",
        "dual_agreement": "agentscale.selectors.dual_agreement:DualAgreement",
        "code_judge": "agentscale.selectors.code_judge:CodeJudge",
        "code": "agentscale.selectors.code_default:code_selector",
        "swe_repro": "agentscale.graphs.swe.select:repro_selector",
    },
    "verifiers": {
        "docstring_examples": "agentscale.verifiers.docstring_examples:DocstringExamplesVerifier",
        "visible_tests": "agentscale.verifiers.visible_tests:VisibleTestsVerifier",
        "model_tests": "agentscale.verifiers.model_tests:ModelTestsVerifier",
        "answer": "agentscale.verifiers.answer_checker:AnswerChecker",
        "llm_judge": "agentscale.verifiers.llm_judge:LLMJudge",
        "weighted_sum": "agentscale.verifiers.weighted_sum:WeightedSum",
        "all_must_pass": "agentscale.verifiers.gate:AllMustPass",
        "code": "agentscale.selectors.code_default:code_verifier",
    },
    "sandboxes": {
        "auto": "agentscale.sandboxes:AutoBackend",
        "docker": "agentscale.sandboxes.docker:DockerBackend",
        "bwrap": "agentscale.sandboxes.bwrap:BwrapBackend",
        "unsafe-local": "agentscale.sandboxes.unsafe:UnsafeLocalBackend",
    },
    "workflows": {
        "humaneval": "agentscale.graphs.humaneval:HumanEvalWorkflow",
        "web": "agentscale.graphs.web.workflow:WebWorkflow",
        "miniwob": "agentscale.graphs.web.miniwob:MiniWoBWorkflow",
        "chat": "agentscale.graphs.chat:ChatWorkflow",
        "math": "agentscale.graphs.math:MathWorkflow",
        "swe": "agentscale.graphs.swe.workflow:SWEWorkflow",
    },
}
"""Built-in names; read-only by convention (plugins use entry points, not this table)."""


def _group(group: str) -> str:
    if group not in GROUPS:
        raise ConfigError(f"unknown registry group {group!r}; choose one of {list(GROUPS)}")
    return group


def _entry_points(group: str) -> list[EntryPoint]:
    builtin = [EntryPoint(name, value, f"agentscale.{group}") for name, value in BUILTINS[group].items()]
    plugins = [ep for ep in entry_points(group=f"agentscale.{group}") if ep.name not in BUILTINS[group]]
    return builtin + sorted(plugins, key=lambda ep: ep.name)


def available(group: str) -> dict[str, str]:
    """Every name in ``group`` (built-ins, then plugins by name) with its ``"module:attr"`` target.

    Args:
        group: one of ``GROUPS``.

    Returns:
        ``{name: "module:attr"}``; nothing is imported.

    Raises:
        ConfigError: an unknown group.
    """
    return {ep.name: ep.value for ep in _entry_points(_group(group))}


def load(group: str, name: str) -> Any:
    """Import and return what ``name`` refers to in ``group`` (usually a class).

    Args:
        group: one of ``GROUPS``.
        name: a short name from ``available(group)``.

    Returns:
        The object the name points to.

    Raises:
        ConfigError: an unknown group or name (the message lists the choices), or a target that
            cannot be imported.
    """
    eps = {ep.name: ep for ep in _entry_points(_group(group))}
    if name not in eps:
        raise ConfigError(f"unknown {_SINGULAR[group]} {name!r}; choose one of: {', '.join(eps)}")
    try:
        return eps[name].load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{_SINGULAR[group]} {name!r} points to {eps[name].value!r}, which cannot be loaded: {exc}"
        ) from exc


def create(group: str, name: str, /, **kwargs: Any) -> Any:
    """Look ``name`` up and call it with ``kwargs``: ``create("selectors", "listwise", model=llm)``.

    Args:
        group: one of ``GROUPS``.
        name: a short name from ``available(group)``.
        **kwargs: the constructor's arguments.

    Returns:
        The new instance.

    Raises:
        ConfigError: an unknown name, or arguments the constructor does not accept (the message
            names them and shows its signature).
    """
    factory = load(group, name)
    what = _SINGULAR[group]
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins and C types have no signature
        signature = None
    if signature is not None:
        params = signature.parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            unknown = [k for k in kwargs if k not in params or params[k].kind == params[k].POSITIONAL_ONLY]
            if unknown:
                raise ConfigError(
                    f"{what} {name!r} takes no option {', '.join(map(repr, unknown))}; it takes {name}{signature}"
                )
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"{what} {name!r} takes {name}{signature}: {exc}") from exc
    return factory(**kwargs)
