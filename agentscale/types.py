"""The data model: small, typed records that serialise to JSON.

``Task`` goes in, ``Rollout`` comes out of an agent, ``Verdict`` comes out of a verifier,
``Usage`` is what a model call (or a whole rollout) cost. All are pydantic models, so
``model_dump_json()`` / ``model_validate_json()`` round-trip them, including through
LangGraph checkpoints.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import AgentScaleError, AllRolloutsFailed, SelectionError

__all__ = [
    "Candidate", "Completion", "ExecResult", "Message", "Provenance", "Rollout", "RolloutRequest", "Selection",
    "Task", "Usage", "Verdict",
]

Message = dict[str, Any]
"""An OpenAI-style chat message: ``{"role": "user", "content": "..."}``."""


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


class Usage(BaseModel):
    """What some work cost. Adds up with ``+``.

    Example:
        >>> (Usage(prompt_tokens=10, calls=1) + Usage(completion_tokens=5, calls=1)).total_tokens
        15
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the server's prefix cache, where the server reports them."""
    calls: int = 0
    seconds: float = 0.0
    """Wall seconds spent waiting on the model."""
    cost_usd: float = 0.0
    """Cost where known; local models cost 0."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            calls=self.calls + other.calls,
            seconds=self.seconds + other.seconds,
            cost_usd=self.cost_usd + other.cost_usd,
        )

    def most(self, other: Usage) -> Usage:
        """Field by field, the larger of the two (two measurements of the same work)."""
        return Usage(**{f: max(getattr(self, f), getattr(other, f)) for f in type(self).model_fields})

    def beyond(self, other: Usage) -> Usage:
        """Field by field, what ``self`` has beyond ``other`` (never below 0): what is still owed."""
        return Usage(**{f: max(getattr(self, f) - getattr(other, f), 0) for f in type(self).model_fields})


class Task(BaseModel):
    """One problem for an agent.

    Attributes:
        id: stable identifier (used for checkpoints and memory provenance).
        prompt: what the agent is asked to do.
        files: files to place in the agent's working directory (path -> text).
        repo: a path or URL of a repository to work in (SWE tasks).
        tests: visible tests the agent and verifiers may run (source code or commands).
        expected: a reference answer, when one exists (answer checkers use it).
        metadata: anything else (entry point, hidden tests, source dataset...).
    """

    id: str = Field(default_factory=_new_id)
    prompt: str
    files: dict[str, str] = Field(default_factory=dict)
    repo: str | None = None
    tests: list[str] = Field(default_factory=list)
    expected: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Provenance(BaseModel):
    """How a rollout came to be: its sampling settings and its parents."""

    seed: int | None = None
    temperature: float | None = None
    prompt_variant: str | None = None
    model: str | None = None
    strategy: str | None = None
    """Which step produced it: ``"sample"``, ``"reflect"``, ``"evolve"``, ``"synthesize"``..."""
    parents: list[str] = Field(default_factory=list)
    """Ids of the rollouts this one was derived from (reflection, evolution, synthesis)."""
    generation: int = 0


class Candidate(BaseModel):
    """An earlier rollout shown to a new one to refine (reflection, evolution).

    Attributes:
        rollout_id: the rollout it was.
        output: its final output.
        score: its verifier score, where it was verified.
        feedback: what the verifier said about it.
        observations: a short digest of the tool observations in its trajectory (agent
            workflows); empty for single-shot agents.
    """

    rollout_id: str
    output: str
    score: float | None = None
    feedback: str = ""
    observations: str = ""


class RolloutRequest(BaseModel):
    """How one rollout is asked for: what makes it differ from its siblings, and what it may build on.

    Strategies write one per rollout; the agent reads the fields (``run.request``) and renders them
    as it likes (``agentscale.prompts.render_request`` is the default rendering).

    Attributes:
        index: position of this rollout in the run (unique within one run).
        seed: sampling seed.
        temperature: sampling temperature, ``None`` for the agent's default.
        model: which model to use where the agent has several (ModelSwitch-style diversity).
        prompt_variant: an extra instruction that perturbs the prompt.
        plan: a natural-language plan to follow (PlanSearch-style diversity).
        feedback: what the strategy asks of this rollout given ``candidates`` (a critique, "fix
            what the check found", "combine their strengths").
        lessons: lessons recalled from a memory bank for this task, as text.
        candidates: earlier rollouts to refine, with their scores and feedback.
        strategy: the step that asked for it (``"sample"``, ``"reflect"``, ``"evolve"``).
        parents: ids of the rollouts it derives from.
        generation: reflection round or evolution generation (0 for first samples).
    """

    index: int = 0
    seed: int | None = None
    temperature: float | None = None
    model: str | None = None
    prompt_variant: str | None = None
    plan: str | None = None
    feedback: str | None = None
    lessons: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    strategy: str = "sample"
    parents: list[str] = Field(default_factory=list)
    generation: int = 0


class Rollout(BaseModel):
    """One run of an agent on a task.

    A rollout that failed is still a ``Rollout``: ``status="error"`` with ``error`` set, so one
    bad sample never takes its siblings down.
    """

    id: str = Field(default_factory=_new_id)
    task_id: str
    status: Literal["ok", "error", "cancelled", "budget"] = "ok"
    output: str = ""
    """The final output: an answer, a program, a patch."""
    answer: str | None = None
    """A short normalisable answer extracted from ``output`` where that makes sense (math, MCQ)."""
    trajectory: list[Message] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    provenance: Provenance = Field(default_factory=Provenance)
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Verdict(BaseModel):
    """A verifier's judgement of one rollout.

    Attributes:
        score: in [0, 1]; higher is better.
        passed: whether the rollout is acceptable.
        feedback: text a later step (reflection, evolution) can show the model.
        evidence: raw material behind the verdict (test output, judge reasoning...).
    """

    rollout_id: str
    score: float = Field(ge=0.0, le=1.0)
    passed: bool
    feedback: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    verifier: str = ""


class ExecResult(BaseModel):
    """What happened when a sandbox ran something.

    Attributes:
        exit_code: the process's exit status (negative or 137 when killed by a signal).
        stdout: standard output decoded as UTF-8 with replacement, capped.
        stderr: standard error, likewise.
        truncated: whether either stream was cut at the output cap.
        timed_out: the time limit was hit and the process tree was killed.
        oom_killed: the memory limit was hit.
        duration: wall seconds.
    """

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    timed_out: bool = False
    oom_killed: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed


class Completion(BaseModel):
    """A model's answer to one request: ``n`` texts and what they cost together.

    Example:
        >>> c = Completion(model="m", texts=["", "4"], tool_calls=[
        ...     [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2}'}}], []])
        >>> c.message(0)["tool_calls"][0]["function"]["name"], c.message(1)
        ('add', {'role': 'assistant', 'content': '4'})
    """

    model: str
    texts: list[str]
    finish_reasons: list[str | None] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    """What the whole request cost: every choice's generated tokens, the prompt counted once."""
    logprobs: list[float | None] = Field(default_factory=list)
    """Mean token log-probability of each text, where the server returned logprobs."""
    tool_calls: list[list[dict[str, Any]]] = Field(default_factory=list)
    """The tool calls of each choice, in the OpenAI shape
    (``{"id", "type": "function", "function": {"name", "arguments"}}``, ``arguments`` a JSON
    string); empty when no choice called a tool."""

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""

    def message(self, index: int = 0) -> Message:
        """Choice ``index`` as the assistant message to append to the conversation.

        It carries the text and, when the model called tools, its ``tool_calls``; append it, then
        one ``{"role": "tool", "tool_call_id": ..., "content": ...}`` message per call
        (``agentscale.llm.tool_result`` builds those), and ask again.
        """
        calls = self.tool_calls[index] if index < len(self.tool_calls) else []
        text = self.texts[index] if index < len(self.texts) else ""
        if not calls:
            return {"role": "assistant", "content": text}
        return {"role": "assistant", "content": text or None, "tool_calls": [dict(c) for c in calls]}


class Selection(BaseModel):
    """A selector's choice among rollouts, and what kind of outcome it is.

    ``status`` tells the three outcomes apart (the ``select`` node sets it):

    - ``"chosen"``: a rollout was chosen, and it passed verification (or nothing was verified);
    - ``"none_passed"``: rollouts ran and were verified, but none passed; ``rollout_id`` may still
      name the best of them (the highest score), so check ``status`` before trusting it;
    - ``"none_ran"``: no rollout succeeded (errors, timeouts, budget); ``rollout_id`` is ``None``
      and ``errors`` says why.

    Callers who want an exception instead call ``require()``.

    Attributes:
        rollout_id: the chosen rollout, or ``None`` when nothing could be chosen.
        rollout: a new rollout when the selector wrote one (synthesis), else ``None``.
        scores: per-rollout scores the selector used (votes, wins, judge scores).
        reason: a one-line explanation.
        status: ``"chosen"``, ``"none_passed"`` or ``"none_ran"``.
        errors: the failed rollouts' errors when nothing ran.
    """

    rollout_id: str | None
    rollout: Rollout | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    reason: str = ""
    status: Literal["chosen", "none_passed", "none_ran"] = "chosen"
    errors: list[str] = Field(default_factory=list)

    def require(self, *, passed: bool = False) -> str:
        """The chosen rollout's id, or an exception saying why there is none.

        Args:
            passed: also refuse a choice that did not pass verification (``"none_passed"``).

        Raises:
            AllRolloutsFailed: nothing ran (its ``exceptions`` carry each rollout's error).
            SelectionError: nothing was chosen, or (with ``passed=True``) nothing passed.
        """
        if self.status == "none_ran":
            errors = [AgentScaleError(e) for e in self.errors] or [AgentScaleError(self.reason or "no rollouts")]
            raise AllRolloutsFailed(f"no rollout succeeded: {self.reason}", errors)
        if self.rollout_id is None:
            raise SelectionError(f"nothing was selected: {self.reason}")
        if passed and self.status == "none_passed":
            raise SelectionError(f"no rollout passed verification: {self.reason}")
        return self.rollout_id
