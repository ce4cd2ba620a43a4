"""A model judges code candidates list-wise: the distinct behaviours among the tied candidates,
each shown as its own code (never the repeated prompt), with the inputs on which they differ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale._judging import parse_choice
from agentscale.errors import BudgetExhausted, ModelError
from agentscale.protocols import Model, SandboxProvider
from agentscale.selectors._code import Group, Observation, Observer, describe, program_key, tied_at_top
from agentscale.selectors._code_view import candidate_code, estimate_tokens
from agentscale.selectors._common import ok_rollouts
from agentscale.selectors.behaviour_cluster import choose_largest
from agentscale.types import Message, Rollout, Selection, Task, Usage, Verdict
from agentscale.verifiers._program import code_prompt

__all__ = ["CodeJudge"]

_SYSTEM = "You review Python code and pick the correct implementation. You reply with JSON only."
_ASK = """The function to implement:

```python
{prompt}
```

{candidates}
{differences}
Which candidate implements the function correctly, as its docstring specifies?
Reply with only this JSON: {{"choice": <candidate number from 1 to {n}>, "reason": "<one short sentence>"}}"""


@dataclass
class CodeJudge:
    """List-wise selection by a model, over distinct behaviours rather than repeated texts.

    1. The candidates tied at the top verifier score are kept (one alone wins at once).
    2. With ``sandboxes``, they run on generated inputs and are grouped by behaviour (as in
       ``BehaviourCluster``); without, identical programs form a group. The earliest member of
       each of the ``max_groups`` largest groups (of programs that finished an input)
       represents it.
    3. The model sees the function's signature and docstring once, then each representative's
       own code (``candidate_code``: the prompt's imports, helpers and docstrings removed), how
       many samples wrote it, and up to ``max_differences`` inputs on which the representatives
       behave differently, with what each returned. It names one.

    Fitting the context: the prompt is estimated at one token per 3 characters. Over
    ``context_tokens`` (less the reply), the differences are dropped first, then the smallest
    groups; when even two candidates do not fit, the model is not asked, and ``reason`` says so
    before naming the fallback (the largest behaviour group). Likewise when the request would
    cost more than ``max_share`` of the rollouts' tokens, when the model fails, or when its reply
    names no candidate: the largest group is chosen and ``reason`` says why. No candidates:
    ``rollout_id=None``.

    Attributes:
        model: the judge.
        sandboxes: where the candidates run to find behaviours (``None``: group identical code only).
        max_groups: most candidates shown.
        max_differences: most differing inputs shown.
        context_tokens: the judge's context window (per request).
        max_tokens: reply length cap.
        temperature: judge sampling temperature.
        max_share: most tokens the request may cost, as a share of the rollouts' tokens.
        max_inputs: most generated inputs per task (with ``sandboxes``).
        python: the interpreter inside the sandbox.
        name: the selector's name.
    """

    model: Model
    sandboxes: SandboxProvider | None = None
    max_groups: int = 4
    max_differences: int = 4
    context_tokens: int = 2048
    max_tokens: int = 100
    temperature: float = 0.0
    max_share: float = 0.25
    max_inputs: int = 24
    python: str = "python3"
    name: str = "code_judge"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by asking the model about the distinct behaviours of the top candidates."""
        candidates = ok_rollouts(rollouts)
        if not candidates:
            return Selection(rollout_id=None, reason="no candidates")
        tied = tied_at_top(candidates, verdicts)
        head = f"{len(tied)} of {len(candidates)} candidates tied at the top verifier score"
        if len(tied) == 1:
            return Selection(rollout_id=tied[0].id, reason=f"{head}: no tie to break")
        if self.sandboxes is not None:
            observer = Observer(self.sandboxes, max_inputs=self.max_inputs, python=self.python)
            seen = await observer.observe(task, tied, rollouts)
        else:
            seen = _by_text(task, tied)
        groups = sorted((g for g in seen.groups if g.ran), key=lambda g: (-g.size, g.first))[: self.max_groups]
        if len(groups) < 2:
            return choose_largest(seen, f"{head}; {describe(seen)}; one behaviour, no need to ask")
        messages, shown = self._fitting_prompt(task, seen, groups)
        if messages is None:
            why = f"the candidates do not fit the judge's context ({self.context_tokens} tokens) even two at a time"
            return _fallback(seen, head, why)
        generated = sum((r.usage for r in rollouts), Usage()).total_tokens
        cost = estimate_tokens("".join(m["content"] for m in messages)) + self.max_tokens
        if generated and cost > self.max_share * generated:
            why = f"judge not asked: ~{cost} tokens is over {self.max_share:.0%} of the {generated} generation tokens"
            return _fallback(seen, head, why)
        try:
            completion = await self.model.generate(messages, temperature=self.temperature, max_tokens=self.max_tokens)
        except (ModelError, BudgetExhausted) as exc:
            return _fallback(seen, head, f"the judge failed ({type(exc).__name__}: {exc})")
        choice = parse_choice(completion.text, len(shown))
        if choice is None:
            return _fallback(seen, head, f"no readable choice in the judge's reply {completion.text[:80]!r}")
        picked = shown[choice]
        return Selection(
            rollout_id=tied[picked.first].id,
            scores={tied[m].id: float(g is picked) for g in seen.groups for m in g.members},
            reason=f"{head}; {describe(seen)}; the judge chose candidate {choice + 1} of {len(shown)} shown",
        )

    def _fitting_prompt(
        self, task: Task, seen: Observation, groups: list[Group]
    ) -> tuple[list[Message] | None, list[Group]]:
        """The largest prompt that fits: all differences and groups, then fewer."""
        room = self.context_tokens - self.max_tokens
        for count in range(len(groups), 1, -1):
            shown = groups[:count]
            for differences in (self.max_differences, 0):
                messages = self.messages(task, seen, shown, differences=differences)
                if estimate_tokens("".join(m["content"] for m in messages)) <= room:
                    return messages, shown
        return None, []

    def messages(self, task: Task, seen: Observation, shown: Sequence[Group], *, differences: int) -> list[Message]:
        """The judge's prompt for these groups, with up to ``differences`` differing inputs."""
        total = len(seen.tied)
        blocks = []
        for i, group in enumerate(shown, 1):
            code = candidate_code(task, seen.tied[group.first])
            blocks.append(f"Candidate {i} (written by {group.size} of {total} samples):\n```python\n{code}\n```")
        diff_lines = _differences(seen, shown, differences)
        diff_text = ("\nWhere the candidates differ:\n" + "\n".join(diff_lines) + "\n") if diff_lines else ""
        ask = _ASK.format(
            prompt=code_prompt(task).strip(), candidates="\n\n".join(blocks), differences=diff_text, n=len(shown)
        )
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]


def _by_text(task: Task, tied: list[Rollout]) -> Observation:
    from agentscale.selectors._code import programs_of

    keys = [program_key(p) for p in programs_of(task, tied)]
    groups: dict[str, Group] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key or f"none{i}", Group([])).members.append(i)
    return Observation(tied=tied, groups=list(groups.values()), notes=["grouped by identical code"])


def _differences(seen: Observation, shown: Sequence[Group], limit: int) -> list[str]:
    table = seen.table
    if table is None or limit <= 0:
        return []
    lines = []
    for i in seen.useful:
        outcomes = [table.outcomes[g.first][i] for g in shown]
        if len({o.key for o in outcomes if o.known}) < 2:
            continue
        parts = []
        for k, o in enumerate(outcomes, 1):
            what = {"value": f"returns {o.text[:80]}", "raised": f"raises {o.key[2:]}"}.get(o.kind, o.kind)
            parts.append(f"candidate {k} {what}")
        lines.append(f"- {table.inputs[i][:120]}: " + "; ".join(parts))
        if len(lines) >= limit:
            break
    return lines


def _fallback(seen: Observation, head: str, why: str) -> Selection:
    chosen = choose_largest(seen, head)
    return chosen.model_copy(update={"reason": f"{why}; fallback: {chosen.reason}"})
