"""How a model wants to be prompted: chat messages, or plain text.

The profile is explicit configuration, never a guess from the model's name: an instruct model
with a chat template takes ``"chat"``; a base model takes ``"completion"``, and chat messages
are then rendered to plain text with a simple template (below) before being sent to the
server's text-completion endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import ConfigError
from agentscale.types import Message

__all__ = ["ModelProfile"]

_DEFAULT_ROLES = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}


class ModelProfile(BaseModel):
    """How to prompt one model.

    For ``kind="completion"`` a list of messages is rendered as::

        System: You are terse.

        User: What is 2+2?

        Assistant:

    i.e. each message as ``"{role label}: {content}"`` joined by ``separator``, then the
    assistant's label with nothing after it, so the base model writes the assistant's turn.
    ``stop`` (default ``"\\nUser:"``) is added to the request's stop sequences so the model
    does not go on to write the user's next turn. A ``str`` prompt is sent as is.

    Example:
        >>> ModelProfile.of("completion").render([{"role": "user", "content": "Hi"}])
        'User: Hi\\n\\nAssistant:'
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["chat", "completion"] = "chat"
    """``"chat"``: messages go to ``/chat/completions``; ``"completion"``: text goes to ``/completions``."""
    roles: Mapping[str, str] = Field(default_factory=lambda: dict(_DEFAULT_ROLES))
    """Label written before each role's message (completion profile only)."""
    separator: str = "\n\n"
    """Written between rendered messages (completion profile only)."""
    stop: tuple[str, ...] = ("\nUser:",)
    """Stop sequences added when a message list was rendered to text (completion profile only)."""

    @classmethod
    def of(cls, value: ModelProfile | str | Mapping[str, Any]) -> ModelProfile:
        """Build a profile from ``"chat"``, ``"completion"``, a dict of fields, or a profile.

        Raises:
            ConfigError: for anything else.
        """
        if isinstance(value, ModelProfile):
            return value
        if isinstance(value, str):
            if value not in ("chat", "completion"):
                raise ConfigError(f"unknown model profile {value!r}; choose 'chat' or 'completion'")
            return cls(kind=value)  # type: ignore[arg-type]
        if isinstance(value, Mapping):
            try:
                return cls.model_validate(value)
            except ValueError as exc:
                raise ConfigError(f"bad model profile {dict(value)!r}: {exc}") from exc
        raise ConfigError(f"a model profile is 'chat', 'completion' or a ModelProfile, not {value!r}")

    def render(self, messages: Sequence[Message]) -> str:
        """Render chat messages as one plain-text prompt (see the class docstring).

        Raises:
            ConfigError: when a message has no ``role`` or an unknown one.
        """
        parts = []
        for message in messages:
            role = message.get("role")
            if role not in self.roles:
                raise ConfigError(
                    f"cannot render a message with role {role!r}; known roles: {sorted(self.roles)}"
                )
            parts.append(f"{self.roles[role]}: {_text(message.get('content'))}".rstrip())
        parts.append(f"{self.roles.get('assistant', 'Assistant')}:")
        return self.separator.join(parts)


def _text(content: Any) -> str:
    # OpenAI messages may carry content as a list of parts; a base model only sees the text ones.
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content)
    return str(content)
