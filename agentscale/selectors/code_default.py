"""The default selection for code: one verifier and one selector, registered as ``"code"``.

    verifier = create("verifiers", "code", sandboxes=pool)           # DocstringExamplesVerifier
    selector = create("selectors", "code", sandboxes=pool)           # BehaviourCluster
    selector = create("selectors", "code", sandboxes=pool, model=llm)  # ... plus model-written inputs

The docstring's examples score every candidate; among those tied at the top score, the largest
group of programs that behave alike on inputs beyond the docstring wins (``BehaviourCluster``).
Given a model, it also asks that model once per task for test calls, capped at 25% of the
candidates' own tokens (not asked when that leaves too little).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentscale.protocols import Model, SandboxProvider, Selector, Verifier
from agentscale.selectors.behaviour_cluster import BehaviourCluster
from agentscale.verifiers.docstring_examples import DocstringExamplesVerifier
from agentscale.verifiers.generated_inputs import ModelInputs

__all__ = ["CodeSelection", "code_selection", "code_selector", "code_verifier"]

MAX_SHARE = 0.25
"""The most a selection's model call may cost, as a share of the candidates' tokens."""


def code_verifier(sandboxes: SandboxProvider, *, python: str = "python3") -> Verifier:
    """The default verifier for code: the docstring's examples, run in a sandbox.

    Args:
        sandboxes: where the candidates run.
        python: the interpreter inside the sandbox.

    Returns:
        A ``DocstringExamplesVerifier``.
    """
    return DocstringExamplesVerifier(sandboxes, python=python)


def code_selector(sandboxes: SandboxProvider, *, model: Model | None = None, python: str = "python3") -> Selector:
    """The default selector for code: behaviour clustering among the top-scored candidates.

    Args:
        sandboxes: where the candidates run on generated inputs.
        model: when given, also asks it once per task for test calls (at most 25% of the
            candidates' tokens).
        python: the interpreter inside the sandbox.

    Returns:
        A ``BehaviourCluster`` named ``"code"``.
    """
    writer = ModelInputs(model) if model is not None else None
    return BehaviourCluster(sandboxes, writer=writer, max_share=MAX_SHARE, python=python, name="code")


@dataclass(frozen=True)
class CodeSelection:
    """The default verifier and selector for code, as a pair."""

    verifier: Verifier
    selector: Selector


def code_selection(sandboxes: SandboxProvider, *, model: Model | None = None, python: str = "python3") -> CodeSelection:
    """Both halves of the default code selection (see the module docstring).

    Example:
        ```python
        async with open_pool() as pool:
            chosen = code_selection(pool)
            graph = scale(agent, n=8, verifier=chosen.verifier, selector=chosen.selector)
        ```
    """
    return CodeSelection(code_verifier(sandboxes, python=python), code_selector(sandboxes, model=model, python=python))
