"""HumanEval code completion: the first workflow (an agent built from a small config).

The agent asks for a HumanEval function with one call to a completion endpoint, in one of two
prompt formats (``HumanEvalConfig.format``):

- ``"chat"`` (the default for chat models): the function's code in the user's turn, and the model
  writes the whole function in its reply; generation stops at the reply's first closing fence,
  so the explanation small models add after the code is never paid for. T=0.8, 512 tokens.
- ``"fence"``: the prompt's code opens the assistant's turn in a fence, so the model writes only
  the body; it stops at the first line back at column 0. Temperatures 0.2/0.6/0.8/1.0, 300 tokens.
  About a fifth of the chat format's generated tokens, but it covers fewer problems with 8
  samples on problems it was not tuned on (README, "Selection for code"). Base models
  (``chat=False``) use it.

It renders the rollout's ``RolloutRequest`` its own way: recalled lessons, the prompt variant,
the plan, and earlier candidates with their feedback (reflection, evolution) go into the user's
turn, never into the code itself.

Example:
    ```python
    from agentscale import scale
    from agentscale.graphs.humaneval import humaneval_agent

    async with LLM(srv.model, api_base=srv.api_base, profile="completion") as llm:
        graph = scale(humaneval_agent(llm), "best_of_n", n=4, verifier=DocstringExamplesVerifier(pool))
    ```
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentscale.datasets import load_humaneval
from agentscale.errors import ConfigError
from agentscale.prompts import render_lessons, render_notes
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.selectors import code_selection
from agentscale.strategies import Diversity
from agentscale.types import Provenance, Rollout, RolloutRequest, Task, Verdict
from agentscale.verifiers import VisibleTestsVerifier
from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = [
    "ASK",
    "CHATML",
    "CHAT_DIVERSITY",
    "CHAT_STOPS",
    "DIVERSITY",
    "PLAIN",
    "STOPS",
    "SYSTEM",
    "HumanEvalAgent",
    "HumanEvalConfig",
    "HumanEvalWorkflow",
    "HiddenTestsScorer",
    "hidden_tests_task",
    "humaneval_agent",
    "no_vote",
    "render",
    "render_chat",
]

SYSTEM = "You are an expert Python programmer. Complete the function the user gives you."
"""The system prompt. Every prompt starts with the same tokens (system, then the request), so the model
server's prefix cache serves that part for every problem, and the whole prompt for the samples of one."""

ASK = "Complete this Python function."

CHATML = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
"""The chat template of the Qwen and SmolLM models (ChatML), for chat models served through a
completion endpoint."""

PLAIN = ""
"""No template: for base models, which just continue the code."""

STOPS = ("\n```", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\nassert ")
"""The body ends at the first line back at column 0 (Codex's stop sequences, plus the closing fence
and asserts): small models like to append tests and prints, which cost tokens and prove nothing."""

DIVERSITY = Diversity(temperatures=(0.2, 0.6, 0.8, 1.0), seed=0)
"""The fence format's samples: sample ``i`` runs at ``temperatures[i % 4]`` with seed ``i``: sample 0
is near-greedy (the one-sample baseline), later ones spread out. A run with ``n=N`` draws exactly
the first ``N`` samples of a run with more, which is what lets the benchmark read small ``N`` off a
large draw."""

CHAT_STOPS = ("\n```\n",)
"""The chat format's stop: the reply's first closing fence (an opening fence carries a language tag,
so it never matches). What a small model writes after its code (explanations, usage examples)
cost 24% of the chat format's generated tokens and never changed a program."""

CHAT_DIVERSITY = Diversity(temperatures=(0.8,), seed=0)
"""The chat format's samples: T=0.8 (the temperature it was measured at), seed ``i`` for sample ``i``."""

Format = Literal["chat", "fence"]

_DEFAULTS: dict[str, tuple[int, tuple[str, ...], Diversity]] = {
    "chat": (512, CHAT_STOPS, CHAT_DIVERSITY),
    "fence": (300, STOPS, DIVERSITY),
}
"""Per format: token cap, stops and diversity."""


class HumanEvalConfig(BaseModel):
    """The workflow's settings (serialisable, so a run's config can be saved).

    Attributes:
        format: ``"chat"`` (the model writes the whole function in its reply) or ``"fence"``
            (it continues the body in a prefilled fence); ``None`` picks ``"chat"`` for a chat
            template and ``"fence"`` for base models.
        chat: the model has a chat template (``CHATML``); ``False`` for base models (``PLAIN``).
        template: a prompt template with ``{system}`` and ``{user}`` (overrides ``chat``).
        system: the system prompt.
        max_tokens: cap on each reply's tokens; ``None``: the format's (chat 512, fence 300).
        stops: stop sequences; ``None``: the format's (``CHAT_STOPS``, ``STOPS``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format | None = None
    chat: bool = True
    template: str | None = None
    system: str = SYSTEM
    max_tokens: int | None = Field(default=None, ge=1)
    stops: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _chat_needs_a_template(self) -> HumanEvalConfig:
        if self.format == "chat" and not self.prompt_template:
            raise ValueError("format 'chat' needs a chat template; base models (chat=False) use format 'fence'")
        return self

    @property
    def prompt_template(self) -> str:
        """The template in use."""
        if self.template is not None:
            return self.template
        return CHATML if self.chat else PLAIN

    @property
    def prompt_format(self) -> Format:
        """The format in use."""
        if self.format is not None:
            return self.format
        return "chat" if self.prompt_template else "fence"

    @property
    def token_cap(self) -> int:
        """``max_tokens``, or the format's cap."""
        return self.max_tokens or _DEFAULTS[self.prompt_format][0]

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        """``stops``, or the format's."""
        return self.stops if self.stops is not None else _DEFAULTS[self.prompt_format][1]

    @property
    def diversity(self) -> Diversity:
        """The temperatures and seeds the format was measured with (``CHAT_DIVERSITY``, ``DIVERSITY``)."""
        return _DEFAULTS[self.prompt_format][2]


def render(task: Task, request: RolloutRequest | None = None, *, template: str = CHATML, system: str = SYSTEM) -> str:
    """The prompt text: the request (with what the rollout's request adds: lessons, variant, plan,
    candidates and feedback) as the user's turn, and the assistant's turn already begun with the
    task's code in a fence, so the model writes only the function's body instead of repeating the
    signature and docstring."""
    request = request or RolloutRequest()
    extra = [e for e in (render_lessons(request.lessons), *render_notes(request)) if e]
    user = "\n\n".join([ASK, *extra])
    head = template.format(system=system, user=user) if template else ""
    return f"{head}```python\n{task.prompt}"


def render_chat(
    task: Task, request: RolloutRequest | None = None, *, template: str = CHATML, system: str = SYSTEM
) -> str:
    """The chat format's prompt text: the request, what the rollout's request adds, and the task's
    code in a fence, all in the user's turn; the model writes the whole function in its reply."""
    request = request or RolloutRequest()
    extra = [e for e in (render_lessons(request.lessons), *render_notes(request)) if e]
    user = "\n\n".join([ASK, *extra, f"```python\n{task.prompt.rstrip()}\n```"])
    return template.format(system=system, user=user)


@dataclass
class HumanEvalAgent:
    """Completes a HumanEval prompt with one call to a completion endpoint.

    In the chat format the rollout's output is the reply as written (the fence closed where the
    stop cut it); in the fence format the reply is the function's body and the output is the
    whole program in a fence (the prompt's code, then the body). Verifiers and judges read either.

    Attributes:
        model: a ``Model`` with the ``completion`` profile (the prompt is sent as is).
        config: the workflow's settings.
    """

    model: Model
    config: HumanEvalConfig = field(default_factory=HumanEvalConfig)

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        request = (run or RolloutContext()).request
        cfg = self.config
        started = time.monotonic()
        chat = cfg.prompt_format == "chat"
        renderer = render_chat if chat else render
        completion = await self.model.generate(
            renderer(task, request, template=cfg.prompt_template, system=cfg.system),
            temperature=request.temperature,
            seed=request.seed,
            max_tokens=cfg.token_cap,
            stop=list(cfg.stop_sequences),
        )
        usage = completion.usage
        if not usage.seconds:
            usage = usage.model_copy(update={"seconds": time.monotonic() - started})
        text = completion.text.rstrip()
        if not text.strip():
            output = ""
        elif chat:
            # the stop ate the closing fence: put it back so the reply reads as written
            output = text + "\n```" if text.count("```") % 2 else text
        else:
            output = f"```python\n{task.prompt.rstrip()}\n{text}\n```"
        return Rollout(
            task_id=task.id,
            output=output,
            usage=usage,
            provenance=Provenance(seed=request.seed, temperature=request.temperature, model=completion.model),
            metadata={"finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None},
        )


def humaneval_agent(
    model: Model, *, chat: bool = True, max_tokens: int | None = None, format: Format | None = None
) -> HumanEvalAgent:
    """The agent for a model served with a completion endpoint; ``chat`` picks ``CHATML`` over ``PLAIN``,
    ``format`` the prompt format (default: ``"chat"`` for chat models, ``"fence"`` for base models),
    ``max_tokens`` overrides the format's cap."""
    return HumanEvalAgent(model, HumanEvalConfig(chat=chat, max_tokens=max_tokens, format=format))


def no_vote(rollout: Rollout) -> None:
    """An ``AdaptivePolicy.key`` that abstains: code has no short answer to vote on, so adaptive
    sampling stops only on a verified pass or at ``max_samples``."""
    return None


def hidden_tests_task(task: Task) -> Task:
    """The task with HumanEval's hidden ``check()`` as its tests, for scoring with ``VisibleTestsVerifier``.

    Raises:
        ConfigError: the task has no ``metadata["hidden_test"]`` (not from ``load_humaneval``).
    """
    hidden = task.metadata.get("hidden_test")
    if not hidden:
        raise ConfigError(f"task {task.id} has no hidden tests (metadata['hidden_test'])")
    return task.model_copy(update={"tests": [hidden]})


@dataclass
class HiddenTestsScorer:
    """Scores a rollout with HumanEval's hidden ``check()`` tests, in a sandbox (scoring only: it
    sees what the agent must not, so it never takes part in selection)."""

    sandboxes: Any
    name: str = "hidden_tests"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """The hidden tests' verdict (``ConfigError`` for a task without them)."""
        return await VisibleTestsVerifier(self.sandboxes, name=self.name).verify(hidden_tests_task(task), rollout)


_PROBLEM = re.compile(r"(?:HumanEval/)?(\d+)\Z")


class HumanEvalWorkflow:
    """The ``humaneval`` workflow (``agentscale.protocols.Workflow``): complete a HumanEval function.

    A task is a problem number (``"12"``, ``"HumanEval/12"``, a record ``{"task_id": "HumanEval/12"}``)
    or a record with your own ``prompt`` (the code to complete) and ``entry_point``. Selection sees
    the docstring's examples run in a sandbox; HumanEval's hidden tests only score. Options are
    ``HumanEvalConfig``'s fields.
    """

    name = "humaneval"
    profile = "completion"
    needs_sandbox = True

    def task(self, source: str | Mapping[str, Any]) -> Task:
        """A ``Task`` from a problem number or a JSONL record.

        Raises:
            ConfigError: neither a HumanEval problem nor a record with ``prompt``.
        """
        if isinstance(source, str):
            match = _PROBLEM.match(source.strip())
            if match is None:
                raise ConfigError(f"a humaneval task is a problem number like 12 or HumanEval/12, got {source!r:.80}")
            return load_humaneval([int(match.group(1))])[0]
        if not isinstance(source, Mapping):
            raise ConfigError(f"a humaneval task is a str or a JSON object, got {type(source).__name__}")
        if "prompt" not in source:
            task_id = str(source.get("task_id") or source.get("id") or "")
            if not task_id:
                raise ConfigError("a humaneval record needs 'task_id' (e.g. HumanEval/12) or 'prompt'")
            return self.task(task_id)
        metadata = {k: source[k] for k in ("entry_point", "hidden_test", "canonical_solution") if k in source}
        if "test" in source and "hidden_test" not in metadata:
            metadata["hidden_test"] = source["test"]
        task_id = str(source.get("task_id") or source.get("id") or "")
        return Task(prompt=str(source["prompt"]), metadata=metadata, **({"id": task_id} if task_id else {}))

    def build(self, env: WorkflowEnv) -> WorkflowParts:
        """The agent (``HumanEvalAgent`` with ``HumanEvalConfig(**env.options)``), the default code
        selection (``code_selection``: the docstring-examples verifier and ``BehaviourCluster``)
        and the hidden-tests scorer.

        Raises:
            ConfigError: no sandboxes, or an unknown option.
        """
        if env.sandboxes is None:
            raise ConfigError("the humaneval workflow runs code: give it sandboxes (WorkflowEnv(sandboxes=pool))")
        try:
            config = HumanEvalConfig(**dict(env.options))
        except ValueError as exc:
            raise ConfigError(f"bad humaneval options: {exc}") from exc
        chosen = code_selection(env.sandboxes)
        return WorkflowParts(
            agent=HumanEvalAgent(env.model, config),
            verifier=chosen.verifier,
            scorer=HiddenTestsScorer(env.sandboxes),
            selector=chosen.selector,
            diversity=config.diversity,  # the fence format's temperature ladder, chat's T=0.8
        )
