"""Math with tools: the model reasons, runs Python in a sandbox, and states a final answer.

The agent is the agent loop (``agentscale.graphs.loop``) with one tool, ``PythonTool``, whose
programs run in the rollout's sandbox (leased per rollout; never on the host). The final answer
is extracted robustly (``\\boxed{}``, ``Final answer:``, ``Answer:``, ``####``, the last number)
into ``Rollout.answer``, and normalised by ``agentscale.answers`` when votes and checks compare
answers (numbers, fractions, units, number words, simple expressions).

Data: reasoning-gym's GSM-style generator (``gsm_tasks(range(50))``: problem ``n`` is generated
with seed ``n``; the answer is kept in ``Task.expected`` for scoring, never shown to the agent).

Example:
    ```python
    from agentscale import ScaleContext, scale
    from agentscale.graphs.math import gsm_tasks, math_agent
    from agentscale.verifiers import AnswerChecker

    graph = scale(math_agent(llm), "majority", n=8)
    state = await graph.ainvoke({"task": gsm_tasks([3])[0]}, context=ScaleContext(sandboxes=pool))
    ```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from agentscale.answers import answers_match, extract_answer, normalize_answer
from agentscale.errors import ConfigError
from agentscale.graphs.loop import ToolAgent, build_agent_graph
from agentscale.graphs.loop_config import LoopConfig
from agentscale.graphs.tools import PythonTool
from agentscale.protocols import Model
from agentscale.types import Rollout, Task, Verdict
from agentscale.verifiers import AnswerChecker
from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = [
    "MATH_INSTRUCTION",
    "MATH_SYSTEM",
    "GroundedAnswer",
    "MathConfig",
    "MathWorkflow",
    "build_math_graph",
    "extract_math_answer",
    "gsm_tasks",
    "math_agent",
]

MATH_SYSTEM = """You solve math word problems with Python.
First reply with a short Python program that computes the answer step by step and prints it.
When you have seen what it printed, reply with the final answer as a number.

Example:
Problem: Tom has 3 boxes of 12 pens and gives away 5 pens. How many pens does he have now?
Reply: ```python
pens = 3 * 12 - 5
print(pens)
```
Observation:
31
Reply: Final answer: 31"""
"""The system prompt (the text format appends how to call the tools)."""

MATH_INSTRUCTION = "Write a Python program that computes the answer and prints it, in a ```python block."
"""Added below the problem: small models write code when the user's turn asks for it."""


class MathConfig(LoopConfig):
    """The math workflow's settings: the loop's (``LoopConfig``) with math defaults, and the
    Python tool's time limit.

    Attributes:
        python_timeout: seconds per program in the sandbox.
    """

    actions: Literal["tools", "text", "auto"] = "text"
    system: str = MATH_SYSTEM
    instruction: str = MATH_INSTRUCTION
    plain_final: bool = True
    max_steps: int = Field(default=5, ge=1, le=1000)
    reply_tokens: int = Field(default=400, ge=1)
    max_tokens: int | None = Field(default=12_000, ge=1)
    python_timeout: float = Field(default=10.0, gt=0)

    def loop(self) -> LoopConfig:
        """The loop's part of the settings."""
        return LoopConfig(**self.model_dump(exclude={"python_timeout"}))


_FINAL_RE = re.compile(r"(?:final\s+answer|answer)\s*(?:is|:|=)", re.IGNORECASE)


def extract_math_answer(text: str | None) -> str | None:
    """The final answer in a math reply, as written.

    In order: the last ``\\boxed{...}``; the last ``Final answer:`` / ``Answer:`` / "the answer
    is" statement; a ``#### X`` line; the last number. A statement that is an equation keeps its
    right-hand side (``Final answer: 12 * 5 = 60`` gives ``60``).

    Example:
        >>> extract_math_answer("Final answer: 3 * 4 = 12 apples.")
        '12 apples'
    """
    answer = extract_answer(text)
    if answer is None:
        return None
    if "=" in answer and not answer.lstrip().startswith("="):
        answer = answer.rsplit("=", 1)[1].strip() or answer
    return answer.strip().rstrip(".").strip() or None


def gsm_tasks(seeds: Iterable[int]) -> list[Task]:
    """GSM-style word problems from reasoning-gym's ``gsm_symbolic`` generator.

    Args:
        seeds: problem numbers; problem ``n`` is the generator's problem for seed ``n``
            (the tests and benchmarks here use seeds 0-999).

    Returns:
        Tasks with ``id="gsm_symbolic/<n>"``, the question as the prompt, the answer in
        ``expected`` (for scoring only) and ``metadata`` with ``seed`` and the worked solution.

    Raises:
        ConfigError: reasoning-gym is not installed, or a seed is negative.
    """
    try:
        import reasoning_gym  # noqa: PLC0415 - optional, and slow to import
    except ModuleNotFoundError as exc:
        raise ConfigError("GSM tasks need reasoning-gym: pip install 'agentscale[local]'") from exc
    tasks = []
    for seed in seeds:
        if not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"a gsm_symbolic seed is an integer >= 0, got {seed!r}")
        item = reasoning_gym.create_dataset("gsm_symbolic", size=1, seed=seed)[0]
        tasks.append(
            Task(
                id=f"gsm_symbolic/{seed}",
                prompt=item["question"],
                expected=str(item["answer"]),
                metadata={"dataset": "gsm_symbolic", "seed": seed, "solution": item["metadata"].get("answer_cot")},
            )
        )
    return tasks


def build_math_graph(
    *, model: Model | None = None, config: MathConfig | None = None, checkpointer: Any = None, store: Any = None
) -> Any:
    """The math agent as a compiled LangGraph graph (the agent loop with the Python tool).

    Args:
        model: the model (``None``: the rollout's ``run.model``).
        config: the settings (``MathConfig()``).
        checkpointer: a LangGraph checkpointer.
        store: a LangGraph store.
    """
    cfg = config or MathConfig()
    return build_agent_graph(
        model=model,
        tools=[PythonTool(timeout=cfg.python_timeout)],
        config=cfg.loop(),
        answer=extract_math_answer,
        checkpointer=checkpointer,
        store=store,
        name="math",
    )


def math_agent(model: Model | None, config: MathConfig | None = None) -> ToolAgent:
    """The math agent for ``scale()``: leases a sandbox per rollout for its Python tool."""
    return ToolAgent(build_math_graph(model=model, config=config), wants_sandbox=True)


def _printed_numbers(rollout: Rollout) -> set[str]:
    seen: set[str] = set()
    for message in rollout.trajectory:
        named = message.get("role") == "user" and message.get("name")
        if message.get("role") != "tool" and not named:
            continue
        text = str(message.get("content") or "")
        if "Error:" in text or "Traceback" in text:
            continue
        for number in re.findall(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?", text):
            seen.add(normalize_answer(number))
    return seen


@dataclass
class GroundedAnswer:
    """Checks that a math rollout's answer was computed, not guessed: it never sees the expected answer.

    Score 1 (passed) when the final answer equals a number a successful Python run printed;
    0.5 when there is an answer but no run printed it; 0 without an answer. It reads the
    rollout's trajectory (the tool observations), so it suits selection (best-of-N, reflection):
    the feedback says what to do ("run code that prints the answer").

    Attributes:
        name: recorded as ``Verdict.verifier``.
    """

    name: str = "grounded_answer"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout by its answer and its observations."""
        answer = rollout.answer if rollout.answer is not None else extract_math_answer(rollout.output)
        key = normalize_answer(answer)
        if not key:
            stop = rollout.metadata.get("limit") or "no final answer was given"
            return Verdict(
                rollout_id=rollout.id,
                score=0.0,
                passed=False,
                verifier=self.name,
                feedback=f"No final answer ({stop}). Compute it with a program, then state it.",
            )
        printed = _printed_numbers(rollout)
        grounded = key in printed or any(answers_match(answer, p) for p in printed)
        feedback = (
            f"The answer {answer} is what the program printed."
            if grounded
            else f"The answer {answer} was not printed by any program run: compute it in Python and check it."
        )
        return Verdict(
            rollout_id=rollout.id,
            score=1.0 if grounded else 0.5,
            passed=grounded,
            feedback=feedback,
            evidence={"answer": answer, "printed": sorted(printed)[:20]},
            verifier=self.name,
        )


_GSM = re.compile(r"(?:gsm(?:_symbolic)?[/:])?(\d+)\Z", re.IGNORECASE)


class MathWorkflow:
    """The ``math`` workflow (``agentscale.protocols.Workflow``): word problems with a sandboxed Python tool.

    A task is a GSM problem number (``"12"``, ``"gsm_symbolic/12"``), a problem's text, or a
    record with ``question`` (or ``prompt``) and optionally ``answer`` (or ``expected``).
    Selection may use ``GroundedAnswer`` (the answer was printed by a program); the expected
    answer only scores (``AnswerChecker``). The selector is a majority vote over normalised
    answers. Options are ``MathConfig``'s fields.
    """

    name = "math"
    profile = "chat"
    needs_sandbox = True

    def task(self, source: str | Mapping[str, Any]) -> Task:
        """A ``Task`` from a problem number, a problem's text, or a JSONL record.

        Raises:
            ConfigError: an empty problem, or a record without ``question``/``prompt``.
        """
        if isinstance(source, str):
            text = source.strip()
            if not text:
                raise ConfigError("a math task is a problem number or the problem's text, got an empty string")
            match = _GSM.match(text)
            return gsm_tasks([int(match.group(1))])[0] if match else Task(prompt=text)
        if not isinstance(source, Mapping):
            raise ConfigError(f"a math task is a str or a JSON object, got {type(source).__name__}")
        prompt = source.get("question") or source.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError("a math record needs 'question' (or 'prompt') with the problem's text")
        expected = source.get("answer", source.get("expected"))
        task_id = str(source.get("id") or source.get("task_id") or "")
        return Task(
            prompt=prompt,
            expected=None if expected is None else str(expected),
            **({"id": task_id} if task_id else {}),
        )

    def build(self, env: WorkflowEnv) -> WorkflowParts:
        """The math agent (``MathConfig(**env.options)``), ``GroundedAnswer``, ``AnswerChecker`` and ``"majority"``.

        Raises:
            ConfigError: no sandboxes, or a bad option.
        """
        if env.sandboxes is None:
            raise ConfigError("the math workflow runs Python: give it sandboxes (WorkflowEnv(sandboxes=pool))")
        try:
            config = MathConfig(**dict(env.options))
        except ValidationError as exc:
            raise ConfigError(f"bad math options: {exc}") from exc
        return WorkflowParts(
            agent=math_agent(env.model, config),
            verifier=GroundedAnswer(),
            scorer=AnswerChecker(),
            selector="majority",
        )
