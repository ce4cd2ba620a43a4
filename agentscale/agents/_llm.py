"""``LLMAgent``: a one-call agent for single-shot problems."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agentscale.errors import ConfigError
from agentscale.prompts import render_request
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.types import Message, Provenance, Rollout, RolloutRequest, Task

__all__ = ["LLMAgent"]


@dataclass
class LLMAgent:
    """A one-call agent for single-shot problems: render the request, ask the model, return its reply.

    The rollout's request picks the seed, temperature and (with several models) the model; the
    prompt is ``render(task, request)``: by default ``agentscale.prompts.render_request`` (lessons,
    the task, then its prompt variant, plan, candidates and feedback).

    Attributes:
        model: a ``Model``, or a mapping name -> ``Model`` chosen by ``RolloutRequest.model`` (the
            first one when the request names none). ``None``: the run's model (``ScaleContext.model``).
        system: a system message.
        render: ``(task, request)`` -> prompt text or chat messages.
        extract: reply -> a short answer for voting (e.g. the number in ``\\boxed{}``).
        max_tokens: cap on the reply's length.
        temperature: used when the request sets none.

    Budget: the rollout is charged once for its call, whether or not the model client charges
    the run's budget itself (``LLM(budget=b)``; see ``agentscale.budget``).
    """

    model: Model | Mapping[str, Model] | None = None
    system: str | None = None
    render: Callable[[Task, RolloutRequest], str | list[Message]] | None = None
    extract: Callable[[str], str | None] | None = None
    max_tokens: int | None = None
    temperature: float | None = None

    def _pick(self, name: str | None, run: RolloutContext) -> tuple[Model, str | None]:
        if self.model is None:
            if run.model is None:
                raise ConfigError("LLMAgent(model=None) uses the run's model: set ScaleContext(model=...)")
            return run.model, name
        if not isinstance(self.model, Mapping):
            return self.model, name
        if not self.model:
            raise ConfigError("LLMAgent got an empty model mapping")
        if name is None:
            name = next(iter(self.model))
        if name not in self.model:
            raise ConfigError(f"LLMAgent has no model {name!r}; it has {sorted(self.model)}")
        return self.model[name], name

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        run = run or RolloutContext()
        request = run.request
        model, name = self._pick(request.model, run)
        rendered = (self.render or render_request)(task, request)
        messages: list[Message] = (
            [{"role": "user", "content": rendered}] if isinstance(rendered, str) else list(rendered)
        )
        if self.system:
            messages = [{"role": "system", "content": self.system}, *messages]
        temperature = request.temperature if request.temperature is not None else self.temperature
        started = time.monotonic()
        completion = await model.generate(
            messages, temperature=temperature, seed=request.seed, max_tokens=self.max_tokens
        )
        usage = completion.usage
        if not usage.seconds:
            usage = usage.model_copy(update={"seconds": time.monotonic() - started})
        text = completion.text
        return Rollout(
            task_id=task.id,
            output=text,
            answer=self.extract(text) if self.extract else None,
            trajectory=[*messages, {"role": "assistant", "content": text}],
            usage=usage,
            provenance=Provenance(
                seed=request.seed,
                temperature=temperature,
                prompt_variant=request.prompt_variant,
                model=name or completion.model,
                strategy=request.strategy,
                parents=list(request.parents),
                generation=request.generation,
            ),
            metadata={"finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None},
        )
