"""Run several candidate programs on the same inputs, in one sandbox lease, and record what each did.

This is the execution half of behaviour clustering (AlphaCode, MBR-exec) and dual agreement
(CodeT): ``observe_behaviours`` leases ONE sandbox and runs every program in it, each in its own
subdirectory and its own harness process, on every input (and every model-written test), each
input under its own time limit. A program that loops, crashes or kills its process on an input
loses only that input: the harness restarts after it and goes on with the next one. What a
program returned is compared through a digest of its canonical form (floats to 9 significant
digits, ``2.0`` as ``2``, dicts and sets in sorted order), computed inside the sandbox.

Programs share the lease's files (each writes only its own subdirectory unless it goes out of its
way): they are isolated from the host and from each other's processes, not from a deliberate
attempt to tamper with a sibling. Candidates of one task come from the same model; where they
might be adversaries of each other, give each its own lease by calling this once per program.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentscale.errors import SandboxError, SandboxUnavailable
from agentscale.protocols import SandboxProvider
from agentscale.verifiers._checks import Check
from agentscale.verifiers._run import CheckResult, run_checks_in
from agentscale.verifiers.generated_inputs import ModelTest

__all__ = ["BehaviourTable", "Outcome", "observe_behaviours"]

OutcomeKind = Literal["value", "raised", "timeout", "crash", "not_run"]


@dataclass(frozen=True)
class Outcome:
    """What one program did on one input.

    Attributes:
        kind: ``"value"`` (returned), ``"raised"`` (an exception), ``"timeout"`` (over the
            per-input limit), ``"crash"`` (the process died), ``"not_run"`` (no program, or the
            time budget ran out first).
        key: equal keys mean equal behaviour: the value's digest, or the exception's type.
        text: for people: the value's short repr, or the error.
    """

    kind: OutcomeKind
    key: str = ""
    text: str = ""

    @property
    def known(self) -> bool:
        """The program finished on the input (returned or raised): its behaviour there is known."""
        return self.kind in ("value", "raised")


def _outcome(result: CheckResult) -> Outcome:
    if result.status == "pass" and result.digest is not None:
        return Outcome("value", f"v:{result.digest}", result.got or "")
    if result.status == "error" and result.raised:
        return Outcome("raised", f"e:{result.raised}", result.error or result.raised)
    if result.status == "timeout":
        return Outcome("timeout", "", result.error or "timeout")
    if result.status in ("crash", "error"):  # an error without a type: the process died
        return Outcome("crash", "", result.error or "crash")
    return Outcome("not_run", "", result.error or "not run")


@dataclass
class BehaviourTable:
    """Every program's outcome on every input, and which model-written tests it passed.

    Attributes:
        inputs: the calls run, in order.
        outcomes: ``outcomes[p][i]``: program ``p`` on input ``i``.
        tests: the model-written tests run.
        test_passed: ``test_passed[p][t]``: ``True``/``False``, or ``None`` when unknown
            (no program, timeout, crash, not run).
        load_errors: per program, why it did not load (``None`` when it did).
        seconds: wall seconds of the whole run, lease included.
        sandbox_error: why the sandbox failed, if it did (programs not reached are ``not_run``).
    """

    inputs: list[str]
    outcomes: list[list[Outcome]]
    tests: list[ModelTest] = field(default_factory=list)
    test_passed: list[list[bool | None]] = field(default_factory=list)
    load_errors: list[str | None] = field(default_factory=list)
    seconds: float = 0.0
    sandbox_error: str | None = None

    def useful_inputs(self, programs: Sequence[int] | None = None) -> list[int]:
        """Inputs on which at least one of ``programs`` returned a value (default: all programs).

        An input that makes every program crash, hang or raise says nothing about which is right
        (typically a mutated argument of the wrong type): it is dropped.
        """
        rows = [self.outcomes[p] for p in (range(len(self.outcomes)) if programs is None else programs)]
        return [i for i in range(len(self.inputs)) if any(row[i].kind == "value" for row in rows)]

    def signature(self, program: int, inputs: Sequence[int]) -> tuple[str, ...]:
        """The program's outcome keys on ``inputs`` (``""`` where it is unknown)."""
        row = self.outcomes[program]
        return tuple(row[i].key if row[i].known else "" for i in inputs)


def _checks(inputs: Sequence[str], tests: Sequence[ModelTest]) -> list[Check]:
    observe = [Check(call, "observe", call, origin="generated") for call in inputs]
    asserts = [Check(t.call, "compare", t.call, expected=t.expected, origin="model-test") for t in tests]
    return observe + asserts


async def observe_behaviours(
    sandboxes: SandboxProvider,
    programs: Sequence[str | None],
    inputs: Sequence[str],
    tests: Sequence[ModelTest] = (),
    *,
    python: str = "python3",
    per_input_timeout: float = 2.0,
    load_timeout: float = 5.0,
    max_seconds: float = 60.0,
) -> BehaviourTable:
    """Run every program on every input and test, all in one sandbox lease.

    Args:
        sandboxes: where to lease the sandbox.
        programs: complete programs (``None`` for a candidate with no program: all ``not_run``).
        inputs: calls with literal arguments (e.g. from ``generate_inputs``).
        tests: model-written asserts, run as comparisons.
        python: the interpreter inside the sandbox.
        per_input_timeout: seconds one input (or test) may take.
        load_timeout: seconds loading a program may take.
        max_seconds: deadline for the whole table; each program gets an equal share of what is
            left when its turn comes, so one slow program cannot starve the rest.

    Returns:
        The table; failures of programs and of the sandbox are recorded in it, never raised.

    Raises:
        SandboxUnavailable: no sandbox backend can run here (a setup problem).
    """
    started = time.monotonic()
    checks = _checks(inputs, tests)
    n_in = len(inputs)
    skip = CheckResult(check=Check("", "observe", ""), status="not_run", error="no program")
    results: list[list[CheckResult]] = [[skip] * len(checks) for _ in programs]
    load_errors: list[str | None] = [None if p else "no program" for p in programs]
    sandbox_error = None
    if checks and any(programs):
        try:
            async with sandboxes.lease() as sandbox:
                for k, program in enumerate(programs):
                    if not program:
                        continue
                    left = max_seconds - (time.monotonic() - started)
                    if left <= 0:
                        break
                    share = left / sum(1 for p in programs[k:] if p)
                    report = await run_checks_in(
                        sandbox,
                        program,
                        checks,
                        python=python,
                        per_check_timeout=per_input_timeout,
                        load_timeout=load_timeout,
                        max_seconds=share,
                        workdir=f"c{k}",
                    )
                    results[k] = report.results
                    load_errors[k] = report.load_error
                    if report.sandbox_error:
                        sandbox_error = report.sandbox_error
                        break
        except SandboxUnavailable:
            raise
        except (SandboxError, OSError) as exc:
            sandbox_error = f"{type(exc).__name__}: {exc}"
    outcomes = [
        [Outcome("not_run", "", load_errors[k]) if load_errors[k] else _outcome(r) for r in row[:n_in]]
        for k, row in enumerate(results)
    ]
    test_passed = [
        [None if load_errors[k] or r.status in ("timeout", "crash", "not_run") else r.passed for r in row[n_in:]]
        for k, row in enumerate(results)
    ]
    return BehaviourTable(
        inputs=list(inputs),
        outcomes=outcomes,
        tests=list(tests),
        test_passed=test_passed,
        load_errors=load_errors,
        seconds=time.monotonic() - started,
        sandbox_error=sandbox_error,
    )
