"""Dual agreement for code (CodeT): model-written tests as a second signal beside behaviour groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale.protocols import SandboxProvider
from agentscale.selectors._code import Group, Observation, Observer, describe, support, top_tie
from agentscale.selectors.behaviour_cluster import choose_largest
from agentscale.types import Rollout, Selection, Task, Verdict
from agentscale.verifiers.generated_inputs import ModelInputs

__all__ = ["DualAgreement", "informative_tests"]


def informative_tests(seen: Observation) -> list[int]:
    """Tests that split the tied programs: some pass it and some fail it.

    A test every program fails (likely a wrong expected value) or every program passes (nobody
    disagrees) cannot tell programs apart, so it carries no weight.
    """
    table = seen.table
    if table is None:
        return []
    useful = []
    for t in range(len(table.tests)):
        results = {row[t] for row in table.test_passed if row[t] is not None}
        if results == {True, False}:
            useful.append(t)
    return useful


def passes(seen: Observation, group: Group, tests: Sequence[int]) -> int:
    """How many of ``tests`` the group passes (by majority of its members with a known result)."""
    assert seen.table is not None
    count = 0
    for t in tests:
        known = [seen.table.test_passed[m][t] for m in group.members if seen.table.test_passed[m][t] is not None]
        if known and 2 * sum(known) > len(known):
            count += 1
    return count


@dataclass
class DualAgreement:
    """Chooses by group size times tests passed, over the candidates tied at the top verifier score.

    The model is asked once for asserts on the entry point (``ModelInputs``): their calls join
    the generated inputs, their expected values become tests. The tied programs run on both in
    ONE sandbox lease and are grouped by behaviour as in ``BehaviourCluster``. Each group scores
    ``size x informative tests passed``, where a test is informative when some tied programs
    pass it and some fail it (see ``informative_tests``).

    Groups whose programs never finished an input rank last. Ties: the larger group, then
    ``support``, then the group with the earliest candidate; the
    earliest member of the winning group is returned. No informative test (the model wrote none
    that splits the programs, or was not asked): the largest group wins, as in
    ``BehaviourCluster``, and ``reason`` says so. The request is capped at ``max_share`` of the
    rollouts' tokens (not asked when that leaves too little). ``Selection.scores`` gives each
    tied candidate its group's score.

    Attributes:
        sandboxes: where the programs and tests run.
        writer: asks the model for asserts.
        max_inputs: most generated inputs per task.
        seed: for the mutations.
        max_share: most tokens the model call may cost, as a share of the rollouts' tokens.
        python: the interpreter inside the sandbox.
        per_input_timeout: seconds one program may take on one input or test.
        max_seconds: deadline for running all programs.
        name: the selector's name.
    """

    sandboxes: SandboxProvider
    writer: ModelInputs
    max_inputs: int = 24
    seed: int = 0
    max_share: float = 0.25
    python: str = "python3"
    per_input_timeout: float = 2.0
    max_seconds: float = 60.0
    name: str = "dual_agreement"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by dual agreement among the top-scored candidates."""
        tied, head, settled = top_tie(rollouts, verdicts)
        if settled is not None:
            return settled
        observer = Observer(
            self.sandboxes,
            self.writer,
            self.max_inputs,
            self.seed,
            self.max_share,
            self.python,
            self.per_input_timeout,
            self.max_seconds,
        )
        seen = await observer.observe(task, tied, rollouts)
        tests = informative_tests(seen)
        if not tests or not seen.groups:
            written = len(seen.table.tests) if seen.table is not None else 0
            chosen = choose_largest(seen, f"{head}; no informative test of {written}")
            return chosen
        score = {id(g): g.size * passes(seen, g, tests) for g in seen.groups}
        best = max(seen.groups, key=lambda g: (g.ran, score[id(g)], g.size, support(g, seen.groups), -g.first))
        return Selection(
            rollout_id=tied[best.first].id,
            scores={tied[m].id: float(score[id(g)]) for g in seen.groups for m in g.members},
            reason=(
                f"{head}; {describe(seen)}; {len(tests)} informative tests of {len(seen.table.tests)}; "
                f"chose a group of {best.size} passing {passes(seen, best, tests)} (score {score[id(best)]})"
            ),
        )
