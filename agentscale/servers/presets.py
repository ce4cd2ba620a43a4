"""Named settings for the embedded server: which model, how many slots, how much context each.

llama.cpp splits ``ctx_size`` evenly across its ``parallel`` slots. One-shot completions want many
short slots; agent workflows (the SWE agent, whose trajectories hold files, test output and many
steps) want few long ones, and a stronger model. A preset is the three numbers; give its
``kwargs()`` to ``LlamaCppServer`` (or ``agentscale serve llamacpp --preset agent``), and tell the
agent its slot's size (``LoopConfig.context_tokens = preset.slot_tokens``) so a long trajectory is
compacted instead of overflowing the slot.

Example:
    >>> p = PRESETS["agent"]
    >>> p.model, p.parallel, p.slot_tokens
    ('qwen2.5-coder-1.5b', 4, 8192)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentscale.errors import ConfigError
from agentscale.servers.weights import DEFAULT_MODEL

__all__ = ["PRESETS", "ServerPreset", "get_preset"]


@dataclass(frozen=True)
class ServerPreset:
    """Settings for ``LlamaCppServer``.

    Attributes:
        name: the preset's name.
        description: what it is for.
        model: a catalogue model (``agentscale.servers.MODELS``).
        parallel: slots (requests decoded together).
        ctx_size: total context, split across the slots.
    """

    name: str
    description: str
    model: str
    parallel: int
    ctx_size: int

    @property
    def slot_tokens(self) -> int:
        """The context of one slot (one request's prompt and reply together)."""
        return self.ctx_size // self.parallel

    def kwargs(self) -> dict[str, Any]:
        """``LlamaCppServer(**preset.kwargs())``."""
        return {"model": self.model, "parallel": self.parallel, "ctx_size": self.ctx_size}


PRESETS: dict[str, ServerPreset] = {
    "default": ServerPreset(
        "default", "one-shot completions, votes and short tool loops: 8 slots of 2048 tokens", DEFAULT_MODEL, 8, 16384
    ),
    "agent": ServerPreset(
        "agent",
        "agent workflows (SWE): the stronger 1.5B model, 4 slots of 8192 tokens",
        "qwen2.5-coder-1.5b",
        4,
        32768,
    ),
    "agent-small": ServerPreset(
        "agent-small", "agent workflows on the faster 0.5B model: 4 slots of 8192 tokens", DEFAULT_MODEL, 4, 32768
    ),
}
"""The built-in presets by name."""


def get_preset(name: str) -> ServerPreset:
    """The preset ``name``.

    Raises:
        ConfigError: an unknown name (the message lists the presets).
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown server preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
