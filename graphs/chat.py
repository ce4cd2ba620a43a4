"""Plain chat: the model answers a free-text question (or continues a conversation), scaled.

The simplest workflow, and the one ``agentscale chat`` and ``agentscale run chat "..."`` use by
default. Its agent is ``agentscale.agents.ChatAgent``: the conversation's messages go to the model
as they are, so multi-turn history and tool calls survive. Selection has no verifier unless
``judge=True`` (an LLM judge scores each answer 0-10); the strategy's own selector picks
(``majority`` votes over the normalised answers). A task with an ``expected`` answer is scored
against it afterwards (``AnswerChecker``), never selected by it.

Example:
    ```python
    workflow = ChatWorkflow()
    task = workflow.task({"prompt": "What is 17 * 3?", "expected": "51"})
    parts = workflow.build(WorkflowEnv(model=llm, options={"max_tokens": 128}))
    graph = scale(parts.agent, "majority", n=5, verifier=parts.verifier)
    ```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentscale.agents import ChatAgent
from agentscale.errors import ConfigError
from agentscale.types import Task
from agentscale.verifiers import AnswerChecker, LLMJudge
from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = ["ChatConfig", "ChatWorkflow"]

_PROMPT_KEYS = ("prompt", "question", "task")


class ChatConfig(BaseModel):
    """The chat workflow's options (``-c key=value`` on the command line).

    Attributes:
        system: a system message for conversations that have none.
        max_tokens: cap on each answer's tokens.
        temperature: sampling temperature where the strategy sets none.
        judge: score each answer with an LLM judge (the same model), so ``best_of_n`` has
            something to choose by; costs one more call per answer.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str | None = "You are a helpful assistant. Answer briefly."
    max_tokens: int = Field(default=512, ge=1)
    temperature: float | None = Field(default=0.7, ge=0.0, le=2.0)
    judge: bool = False


class ChatWorkflow:
    """The ``chat`` workflow (``agentscale.protocols.Workflow``): answer a question or continue a chat.

    A task is the question's text, or a record with ``prompt`` (or ``question``) and optionally
    ``expected`` (or ``answer``), ``id``, and ``messages`` (a whole OpenAI-shaped conversation,
    which then stands for the prompt). ``conversational`` tells ``agentscale chat`` to hand it the
    history as messages rather than as text.
    """

    name = "chat"
    profile = "chat"
    needs_sandbox = False
    conversational = True

    def task(self, source: str | Mapping[str, Any]) -> Task:
        """A ``Task`` from a question or a JSONL record.

        Raises:
            ConfigError: an empty question, or a record with neither a prompt nor messages.
        """
        if isinstance(source, str):
            if not source.strip():
                raise ConfigError("a chat task needs a question, got an empty string")
            return Task(prompt=source)
        if not isinstance(source, Mapping):
            raise ConfigError(f"a chat task is a str or a JSON object, got {type(source).__name__}")
        metadata: dict[str, Any] = {}
        prompt = next((source[k] for k in _PROMPT_KEYS if isinstance(source.get(k), str)), None)
        messages = source.get("messages")
        if messages is not None:
            if not isinstance(messages, list) or not messages:
                raise ConfigError("a chat record's 'messages' must be a non-empty list of chat messages")
            metadata["messages"] = messages
            if prompt is None:
                prompt = _last_user_text(messages)
        if prompt is None or not prompt.strip():
            raise ConfigError(f"a chat record needs 'prompt' (or 'question') or 'messages'; it has {sorted(source)}")
        expected = source.get("expected", source.get("answer"))
        task_id = source.get("id", source.get("task_id"))
        return Task(
            prompt=prompt,
            expected=None if expected is None else str(expected),
            metadata=metadata,
            **({"id": str(task_id)} if task_id not in (None, "") else {}),
        )

    def build(self, env: WorkflowEnv) -> WorkflowParts:
        """The ``ChatAgent``, an optional judge, and the expected-answer scorer.

        Raises:
            ConfigError: an unknown or invalid option.
        """
        try:
            config = ChatConfig(**dict(env.options))
        except ValidationError as exc:
            raise ConfigError(f"bad chat options: {_problems(exc)}") from exc
        agent = ChatAgent(env.model, system=config.system, max_tokens=config.max_tokens, temperature=config.temperature)
        return WorkflowParts(
            agent=agent,
            verifier=LLMJudge(env.model) if config.judge else None,
            scorer=AnswerChecker(),
        )


def _last_user_text(messages: list[Any]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # OpenAI content parts
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return None


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors()[:3])
