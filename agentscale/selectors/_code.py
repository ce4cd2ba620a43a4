"""What the code selectors share: the candidates tied at the top, their programs, behaviour groups.

Behaviour groups are made from a ``BehaviourTable``: two programs are in one group when they did
the same thing (returned equal values, or raised the same exception type) on every useful input
both finished. An input where a program hung or crashed is unknown for it and does not split it
from the others, so a candidate loses only that input. Grouping is greedy and deterministic:
programs are taken in order of how many inputs they finished (then sample order), each joins the
first group whose first member it agrees with, else opens a new group; a program that finished
fewer than half of the useful inputs always stays alone (too little is known to vouch for it).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentscale.protocols import SandboxProvider
from agentscale.selectors._common import ok_rollouts, score_of
from agentscale.types import Rollout, Selection, Task, Usage, Verdict
from agentscale.verifiers._program import program_for
from agentscale.verifiers.behaviour import BehaviourTable, Outcome, observe_behaviours
from agentscale.verifiers.generated_inputs import ModelInputs, ModelWritten, generate_inputs

__all__ = [
    "Group",
    "Observation",
    "Observer",
    "describe",
    "group_behaviours",
    "program_key",
    "programs_of",
    "support",
    "tied_at_top",
    "top_tie",
    "writer_tokens",
]


def tied_at_top(candidates: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> list[Rollout]:
    """The candidates sharing the highest verifier score (all of them when nothing is verified).

    A passed verdict beats a failed one at equal score, as in ``BestScore``.
    """
    if not candidates:
        return []

    def rank(r: Rollout) -> tuple[float, bool]:
        verdict = verdicts.get(r.id)
        return (score_of(verdicts, r), bool(verdict and verdict.passed))

    top = max(rank(r) for r in candidates)
    return [r for r in candidates if rank(r) == top]


def top_tie(
    rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]
) -> tuple[list[Rollout], str, Selection | None]:
    """The tied top candidates, the reason's head, and the selection when there is no tie to break."""
    candidates = ok_rollouts(rollouts)
    if not candidates:
        return [], "", Selection(rollout_id=None, reason="no candidates")
    tied = tied_at_top(candidates, verdicts)
    head = f"{len(tied)} of {len(candidates)} candidates tied at the top verifier score"
    if len(tied) == 1:
        return tied, head, Selection(rollout_id=tied[0].id, reason=f"{head}: no tie to break")
    return tied, head, None


def programs_of(task: Task, rollouts: Sequence[Rollout]) -> list[str | None]:
    """Each rollout's complete program (``None`` when its output holds no code)."""
    return [program_for(task, r)[0] for r in rollouts]


def program_key(program: str | None) -> str:
    """Equal keys for programs that differ only in layout, comments and docstrings."""
    if program is None:
        return ""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "src:" + hashlib.sha1(program.strip().encode()).hexdigest()[:16]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return "ast:" + hashlib.sha1(ast.dump(tree).encode()).hexdigest()[:16]


@dataclass
class Group:
    """Programs that behaved alike.

    Attributes:
        members: indices into the programs (ascending: the earliest first).
        signature: the first member's outcome keys on the useful inputs (``""``: unknown).
    """

    members: list[int]
    signature: tuple[str, ...] = field(default_factory=tuple)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def first(self) -> int:
        return min(self.members)

    @property
    def ran(self) -> bool:
        """Its programs finished at least one input (or nothing was run): they load and work."""
        return not self.signature or any(self.signature)


def _agree(a: Sequence[str], b: Sequence[str]) -> bool:
    return all(x == y for x, y in zip(a, b, strict=True) if x and y)


def group_behaviours(table: BehaviourTable, programs: Sequence[int]) -> tuple[list[Group], list[int]]:
    """Group ``programs`` (indices into the table) by behaviour on the useful inputs.

    Returns:
        ``(groups, useful)``: the groups, in order of their first member, and the useful inputs.
    """
    useful = table.useful_inputs(programs)
    signatures = {p: table.signature(p, useful) for p in programs}
    known = {p: sum(1 for key in signatures[p] if key) for p in programs}
    order = sorted(programs, key=lambda p: (-known[p], p))
    groups: list[Group] = []
    open_groups: list[Group] = []  # groups whose first member finished enough inputs to vouch for others
    for p in order:
        home = None
        if 2 * known[p] >= len(useful):
            home = next((g for g in open_groups if _agree(signatures[p], g.signature)), None)
        if home is not None:
            home.members.append(p)
        else:
            groups.append(Group([p], signatures[p]))
            if 2 * known[p] >= len(useful):
                open_groups.append(groups[-1])
    for g in groups:
        g.members.sort()
    groups.sort(key=lambda g: g.first)
    return groups, useful


def support(group: Group, groups: Sequence[Group]) -> int:
    """Inputs on which members of *other* groups did what this group did, summed over them: how
    close the rest came to this behaviour (the MBR-exec tie-break between equally large groups)."""
    total = 0
    for other in groups:
        if other is group:
            continue
        same = sum(1 for x, y in zip(group.signature, other.signature, strict=True) if x and x == y)
        total += same * other.size
    return total


def writer_tokens(rollouts: Sequence[Rollout], share: float, prompt_chars: int, cap: int) -> tuple[int, str]:
    """How many reply tokens a selection call may use so it costs at most ``share`` of generation.

    Generation tokens are the rollouts' own (prompt + completion). The request's prompt is
    estimated at one token per 3 characters (code tokenises at about 3.5-4), so the bound holds.
    Rollouts without usage (stored candidates) give ``cap``.

    Returns:
        ``(max_tokens, note)``: ``max_tokens`` 0 means do not call, and ``note`` says why.
    """
    generated = sum((r.usage for r in rollouts), Usage()).total_tokens
    if not generated:
        return cap, ""
    room = int(share * generated) - prompt_chars // 3
    if room < 64:
        return 0, f"no model call: {share:.0%} of the {generated} generation tokens does not cover one"
    return min(cap, room), ""


@dataclass
class Observation:
    """What running the tied candidates showed.

    Attributes:
        tied: the candidates tied at the top verifier score, in sample order.
        table: their behaviour (rows follow ``tied``; identical programs ran once and share a row).
        groups: behaviour groups over ``tied`` (indices into it).
        useful: the useful inputs (indices into ``table.inputs``).
        written: what the model wrote, when it was asked.
        notes: what was skipped and why, for ``Selection.reason``.
    """

    tied: list[Rollout]
    table: BehaviourTable | None = None
    groups: list[Group] = field(default_factory=list)
    useful: list[int] = field(default_factory=list)
    written: ModelWritten | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Observer:
    """Generates inputs (and, with a writer, model-written tests) and runs the tied candidates on them.

    Attributes: see ``BehaviourCluster``.
    """

    sandboxes: SandboxProvider
    writer: ModelInputs | None = None
    max_inputs: int = 24
    seed: int = 0
    max_share: float = 0.25
    python: str = "python3"
    per_input_timeout: float = 2.0
    max_seconds: float = 60.0

    async def observe(self, task: Task, tied: list[Rollout], everyone: Sequence[Rollout]) -> Observation:
        """Run ``tied`` on generated inputs; ``everyone`` (all rollouts) sets the model-call budget."""
        seen = Observation(tied=tied)
        programs = programs_of(task, tied)
        keys = [program_key(p) for p in programs]
        distinct = list(dict.fromkeys(k for k in keys if k))
        if len(distinct) <= 1:  # one program (or none): nothing to run; code-less ones stand alone
            with_code = [i for i, k in enumerate(keys) if k]
            seen.groups = ([Group(with_code)] if with_code else []) + [Group([i]) for i, k in enumerate(keys) if not k]
            seen.groups.sort(key=lambda g: g.first)
            seen.notes.append("the tied programs are the same program" if with_code else "no tied candidate has code")
            return seen
        if self.writer is not None:
            prompt_chars = sum(len(m["content"]) for m in self.writer.prompt(task))
            cap, why = writer_tokens(everyone, self.max_share, prompt_chars, self.writer.max_tokens)
            if cap:
                seen.written = await self.writer.write(task, max_tokens=cap)
                if seen.written.note:
                    seen.notes.append(f"model-written inputs: {seen.written.note}")
            else:
                seen.notes.append(why)
        inputs = [g.call for g in generate_inputs(task, limit=self.max_inputs, seed=self.seed, written=seen.written)]
        tests = seen.written.tests if seen.written is not None else []
        if not inputs and not tests:
            seen.notes.append("no inputs to run: the docstring shows no call with literal arguments")
            return seen
        first_of = {k: keys.index(k) for k in distinct}
        table = await observe_behaviours(
            self.sandboxes,
            [programs[first_of[k]] for k in distinct],
            inputs,
            tests,
            python=self.python,
            per_input_timeout=self.per_input_timeout,
            max_seconds=self.max_seconds,
        )
        row = {k: i for i, k in enumerate(distinct)}
        none = [Outcome("not_run", "", "no program")] * len(inputs)
        table.outcomes = [table.outcomes[row[k]] if k else none for k in keys]
        table.test_passed = [table.test_passed[row[k]] if k else [None] * len(tests) for k in keys]
        table.load_errors = [table.load_errors[row[k]] if k else "no program" for k in keys]
        if table.sandbox_error:
            seen.notes.append(f"the sandbox failed: {table.sandbox_error}")
        seen.table = table
        seen.groups, seen.useful = group_behaviours(table, range(len(tied)))
        return seen


def describe(seen: Observation) -> str:
    """One line on what was run: inputs, useful ones, groups (largest first)."""
    if seen.table is None:
        return "; ".join(seen.notes) or "nothing run"
    sizes = sorted((g.size for g in seen.groups), reverse=True)
    origin = ""
    if seen.written is not None and seen.written.calls:
        origin = f" ({len(seen.written.calls)} written by the model)"
    text = (
        f"{len(seen.useful)} of {len(seen.table.inputs)} inputs useful{origin}, "
        f"behaviour groups {'+'.join(map(str, sizes))}"
    )
    return "; ".join([text, *seen.notes])
