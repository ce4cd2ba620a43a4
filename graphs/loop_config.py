"""The agent loop's settings (``LoopConfig``) and how ``actions="auto"`` picks a format for a model."""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentscale.graphs.tools import FINAL_TOOL

__all__ = ["SYSTEM", "LoopConfig", "resolve_actions"]

SYSTEM = "You are a capable agent. Solve the user's task step by step, using the tools to act and to check your work."
"""The default system prompt (the text format adds how to call each tool below it)."""


class LoopConfig(BaseModel):
    """The agent loop's settings (serialisable: a run's config can be saved and reloaded).

    Attributes:
        actions: ``"tools"`` (native tool calls), ``"text"`` (one fenced action per reply, for any
            model, base models included) or ``"auto"`` (native for chat models whose client takes
            ``tools=``, text otherwise).
        system: the system prompt ("" for none); the text format appends its tool instructions.
        instruction: added below the task in the first user message (small models follow the user's
            turn better than the system prompt), e.g. "Write a program that prints the answer.".
        max_steps: model turns before the loop stops without an answer (malformed ones count).
        max_tokens: tokens (prompt and completion, all calls) the rollout may spend; ``None``: no limit.
        max_seconds: wall seconds for the whole rollout; ``None``: no limit.
        reply_tokens: cap on each reply's tokens.
        tool_timeout: seconds before a tool call is stopped (a tool's own ``timeout`` wins).
        observation_chars: observations longer than this are cut in the middle, with a note.
        plain_final: in the text format, a reply with no fenced block is the final answer (as a
            reply without calls is with native tool calls), instead of a format error. For weak
            models that answer with a bare number once they have seen the result.
        final_tool: the tool that ends the loop with its ``answer`` (added to the tools); ``None``:
            only a reply without an action ends it (a ``Final answer:`` line in the text format).
        context_tokens: the model's context for one request (a llama.cpp slot's share); when set,
            a trajectory whose estimate exceeds it minus ``reply_tokens`` is compacted before the
            call (old observations shortened, with a note: ``agentscale.graphs.compaction``)
            instead of the request failing (the tools' definitions count too). ``None``: compacted
            only once a server refuses a request as over its context, to the size it names.
        calls_per_step: at most this many of a reply's actions run; the later ones are left out
            of the reply kept in the trajectory, and the last result run says how many were not
            run (for tools whose result changes what comes next, as a browser's pages do; small
            models fire a whole plan of calls at once). ``None``: all run, in order.
        text_example: a worked example of a few steps in the text format, added below the tools'
            instructions when the loop acts in that format (small models copy a demonstration far
            better than they follow a description); ``""``: none.
        last_step_note: the observation before the last step tells the model to answer in its next
            reply; ``False`` for loops that end without an answer from the model (MiniWoB's ends
            with the episode: there, that note only makes a small model say "done").
        final_refusals: how many times the graph's ``check_final`` may refuse a final answer (the
            model reads why and goes on); after that an answer is accepted as it is.
        repeat_limit: the rollout ends (``stop="repeating"``, no answer) when the model starts the
            same cycle of steps this many times in a row, each time answered the same way (a cycle
            of one step: the same reply, the same observation). A small model caught in a loop
            repeats itself whatever the observations say, and would spend the rest of its steps
            on it. ``None``: never.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: Literal["tools", "text", "auto"] = "auto"
    system: str = SYSTEM
    instruction: str = ""
    max_steps: int = Field(default=10, ge=1, le=1000)
    max_tokens: int | None = Field(default=32_000, ge=1)
    max_seconds: float | None = Field(default=600.0, gt=0)
    reply_tokens: int = Field(default=512, ge=1)
    tool_timeout: float = Field(default=30.0, gt=0)
    observation_chars: int = Field(default=4000, ge=200)
    plain_final: bool = False
    final_tool: str | None = Field(default=FINAL_TOOL, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    context_tokens: int | None = Field(default=None, ge=256)
    calls_per_step: int | None = Field(default=None, ge=1)
    last_step_note: bool = True
    final_refusals: int = Field(default=1, ge=0)
    repeat_limit: int | None = Field(default=3, ge=2)
    text_example: str = ""

    @model_validator(mode="after")
    def _room_for_the_request(self) -> LoopConfig:
        if self.context_tokens is not None and self.context_tokens - self.reply_tokens < 128:
            raise ValueError(
                f"context_tokens ({self.context_tokens}) must leave room for the request beyond "
                f"reply_tokens ({self.reply_tokens}): at least 128 tokens more"
            )
        return self


def _takes_tools(model: Any) -> bool:
    try:
        params = inspect.signature(model.generate).parameters
    except (AttributeError, TypeError, ValueError):
        return False
    return "tools" in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def resolve_actions(setting: str, model: Any) -> Literal["tools", "text"]:
    """The action format for ``model``: ``setting`` unless it is ``"auto"``.

    ``"auto"`` gives ``"tools"`` when the model's client takes ``tools=`` and its profile (where it
    has one, as ``agentscale.llm.LLM`` does) is a chat profile; ``"text"`` otherwise (base models
    on a completion endpoint, clients without tool calling).
    """
    if setting in ("tools", "text"):
        return setting  # type: ignore[return-value]
    profile = getattr(getattr(model, "config", None), "profile", None)
    if getattr(profile, "kind", "chat") != "chat":
        return "text"
    return "tools" if _takes_tools(model) else "text"
