"""HumanEval code completion: the first workflow (an agent built from a small config).

The agent continues a HumanEval prompt on a completion endpoint with one call: the prompt's code
opens the assistant's turn in a fence, so the model writes only the function's body. It renders
the rollout's ``RolloutRequest`` its own way: recalled lessons, the prompt variant, the plan, and
earlier candidates with their feedback (reflection, evolution) go into the user's turn, above
the code, never into the code itself.

Example:
    ```python
    from agentscale import scale
    from agentscale.graphs.humaneval import humaneval_agent

    async with LLM(srv.model, api_base=srv.api_base, profile="completion") as llm:
        graph = scale(humaneval_agent(llm), "best_of_n", n=4, verifier=DocstringExamplesVerifier(pool))
    ```
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import ConfigError
from agentscale.prompts import render_lessons, render_notes
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.strategies import Diversity
from agentscale.types import Provenance, Rollout, RolloutRequest, Task

__all__ = [
    "ASK",
    "CHATML",
    "DIVERSITY",
    "PLAIN",
    "STOPS",
    "SYSTEM",
    "HumanEvalAgent",
    "HumanEvalConfig",
    "hidden_tests_task",
    "humaneval_agent",
    "no_vote",
    "render",
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
"""Sample ``i`` runs at ``temperatures[i % 4]`` with seed ``i``: sample 0 is near-greedy (the
one-sample baseline), later ones spread out. A run with ``n=N`` draws exactly the first ``N``
samples of a run with more, which is what lets the benchmark read small ``N`` off a large draw."""


class HumanEvalConfig(BaseModel):
    """The workflow's settings (serialisable, so a run's config can be saved).

    Attributes:
        chat: the model has a chat template (``CHATML``); ``False`` for base models (``PLAIN``).
        template: a prompt template with ``{system}`` and ``{user}`` (overrides ``chat``).
        system: the system prompt.
        max_tokens: cap on the body's tokens.
        stops: stop sequences.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    chat: bool = True
    template: str | None = None
    system: str = SYSTEM
    max_tokens: int = Field(default=300, ge=1)
    stops: tuple[str, ...] = STOPS

    @property
    def prompt_template(self) -> str:
        """The template in use."""
        if self.template is not None:
            return self.template
        return CHATML if self.chat else PLAIN


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


@dataclass
class HumanEvalAgent:
    """Completes a HumanEval prompt with one call to a completion endpoint.

    The reply is the function's body; the rollout's output is the whole program in a fence
    (the prompt's code, then the body), which is what verifiers and judges read.

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
        completion = await self.model.generate(
            render(task, request, template=cfg.prompt_template, system=cfg.system),
            temperature=request.temperature,
            seed=request.seed,
            max_tokens=cfg.max_tokens,
            stop=list(cfg.stops),
        )
        usage = completion.usage
        if not usage.seconds:
            usage = usage.model_copy(update={"seconds": time.monotonic() - started})
        body = completion.text.rstrip()
        return Rollout(
            task_id=task.id,
            output=f"```python\n{task.prompt.rstrip()}\n{body}\n```" if body.strip() else "",
            usage=usage,
            provenance=Provenance(seed=request.seed, temperature=request.temperature, model=completion.model),
            metadata={"finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None},
        )


def humaneval_agent(model: Model, *, chat: bool = True, max_tokens: int = 300) -> HumanEvalAgent:
    """The agent for a model served with a completion endpoint; ``chat`` picks ``CHATML`` over ``PLAIN``."""
    return HumanEvalAgent(model, HumanEvalConfig(chat=chat, max_tokens=max_tokens))


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
