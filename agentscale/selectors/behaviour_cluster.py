"""Behaviour clustering for code (AlphaCode, MBR-exec): among the candidates tied at the top
verifier score, the largest group of programs that behave alike wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale.protocols import SandboxProvider
from agentscale.selectors._code import Observation, Observer, describe, support, top_tie
from agentscale.types import Rollout, Selection, Task, Verdict
from agentscale.verifiers.generated_inputs import ModelInputs

__all__ = ["BehaviourCluster"]


@dataclass
class BehaviourCluster:
    """Breaks the verifier's ties by running the tied programs on inputs beyond the docstring.

    1. The candidates tied at the top verifier score (all of them when nothing is verified) are
       kept; one alone wins at once.
    2. Inputs: the docstring's example calls, calls the model wrote (with ``writer``), and
       type-aware mutations of their arguments (``generate_inputs``), at most ``max_inputs``.
    3. Every distinct tied program runs on every input in ONE sandbox lease
       (``observe_behaviours``), each input under ``per_input_timeout``; inputs on which no
       program returns a value are dropped.
    4. Programs are grouped by what they returned or raised (see ``agentscale.selectors._code``;
       a hang or crash on an input only makes that input unknown for the program).
    5. The largest group wins, among groups whose programs finished at least one input (a
       program that never loads or never returns is wrong, however many wrote it). Tie-break,
       in order: the group whose behaviour the other groups came closest to (``support``:
       matching outcomes summed over the other programs), then the group holding the earliest
       candidate. Within the group, the earliest candidate.

    Identical programs (up to layout, comments and docstrings) run once. No candidates:
    ``rollout_id=None``. Nothing to run (the docstring shows no literal call and no writer): the
    earliest tied candidate, and ``reason`` says so. ``Selection.scores`` gives each tied
    candidate its group's share of the tied candidates.

    With a ``writer``, the model is asked once per task (only when the tied programs differ), and
    its reply is capped so the request costs at most ``max_share`` of the rollouts' tokens;
    when even a short reply would not fit, it is not asked and ``reason`` says so.

    Attributes:
        sandboxes: where the programs run (a ``SandboxProvider``, e.g. ``open_pool()``).
        writer: asks a model for extra inputs (``ModelInputs``); ``None``: mutations only.
        max_inputs: most inputs per task, the examples included.
        seed: for the mutations.
        max_share: most tokens the model call may cost, as a share of the rollouts' tokens.
        python: the interpreter inside the sandbox.
        per_input_timeout: seconds one program may take on one input.
        max_seconds: deadline for running all programs on all inputs.
        name: the selector's name.
    """

    sandboxes: SandboxProvider
    writer: ModelInputs | None = None
    max_inputs: int = 24
    seed: int = 0
    max_share: float = 0.25
    python: str = "python3"
    per_input_timeout: float = 2.0
    max_seconds: float = 60.0
    name: str = "behaviour_cluster"

    def observer(self) -> Observer:
        """The input generator and runner with this selector's settings."""
        return Observer(
            self.sandboxes,
            self.writer,
            self.max_inputs,
            self.seed,
            self.max_share,
            self.python,
            self.per_input_timeout,
            self.max_seconds,
        )

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose the largest behaviour group among the top-scored candidates."""
        tied, head, settled = top_tie(rollouts, verdicts)
        if settled is not None:
            return settled
        seen = await self.observer().observe(task, tied, rollouts)
        return choose_largest(seen, head)


def choose_largest(seen: Observation, head: str) -> Selection:
    """The largest group's earliest member (tie-break: ``support``, then the earliest group)."""
    tied = seen.tied
    if not seen.groups:
        return Selection(rollout_id=tied[0].id, reason=f"{head}; {describe(seen)}; chose the earliest")
    best = max(seen.groups, key=lambda g: (g.ran, g.size, support(g, seen.groups), -g.first))
    rivals = [g for g in seen.groups if g.size == best.size and g.ran == best.ran]
    how = ""
    if len(rivals) > 1:
        supports = {support(g, seen.groups) for g in rivals}
        how = " (tie broken by support)" if len(supports) > 1 else " (tie broken by order)"
    scores = {tied[m].id: g.size / len(tied) for g in seen.groups for m in g.members}
    return Selection(
        rollout_id=tied[best.first].id,
        scores=scores,
        reason=f"{head}; {describe(seen)}; chose a group of {best.size}{how}",
    )
