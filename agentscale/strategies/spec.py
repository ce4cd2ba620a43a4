"""``ScaleSpec``: what ``scale()`` hands a strategy to build with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentscale.protocols import Selector, Verifier
from agentscale.strategies.context import ScaleContext

__all__ = ["ScaleSpec"]


@dataclass(frozen=True)
class ScaleSpec:
    """The parts a ``Strategy`` wires into its nodes.

    Attributes:
        agent: the agent, already adapted (``as_agent``).
        verifier: checks each rollout (``None``: ``ScaleContext.verifier`` at run time).
        selector: picks the answer; when given it wins over the strategy's own default
            (``None``: the strategy's, else ``ScaleContext.selector``, else the best score).
        timeout: seconds per rollout (``None``: ``ScaleContext.rollout_timeout``).
        context: the ``ScaleContext`` for when the graph runs inside a graph with another context
            type (pass it to each node's ``context=``).
        entry: the node the strategy's first node follows (``"recall"``).
        exit: the node the strategy's last nodes lead to (``"remember"``).
    """

    agent: Any
    verifier: Verifier | None = None
    selector: Selector | None = None
    timeout: float | None = None
    context: ScaleContext | None = None
    entry: str = "recall"
    exit: str = "remember"
