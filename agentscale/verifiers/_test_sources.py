"""Run test sources (Python test code, pytest files, or shell commands) against one program."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentscale.errors import SandboxError, SandboxUnavailable
from agentscale.protocols import SandboxProvider
from agentscale.verifiers._checks import Check
from agentscale.verifiers._pytest_run import run_pytest
from agentscale.verifiers._run import PROGRAM, CheckResult, RunReport, run_checks
from agentscale.verifiers._tests import split_tests

__all__ = ["TestLimits", "run_test_sources"]

_COMMAND_RE = re.compile(r"^\s*(?:\$\s+|(?:pytest|python3?|bash|sh|make|tox|\./)\b)")


@dataclass(frozen=True)
class TestLimits:
    """Time limits and the interpreter used for test runs."""

    __test__ = False

    python: str = "python3"
    per_check_timeout: float = 5.0
    load_timeout: float = 10.0
    max_seconds: float = 120.0


def _is_command(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return bool(_COMMAND_RE.match(source))
    return False


async def _run_command(provider: SandboxProvider, program: str, command: str, timeout: float) -> CheckResult:
    command = re.sub(r"^\s*\$\s+", "", command.strip())
    check = Check(command[:80], "exec", command, origin="command")
    try:
        async with provider.lease() as sandbox:
            result = await sandbox.run(command, files={PROGRAM: program}, timeout=timeout)
    except SandboxUnavailable:
        raise
    except (SandboxError, OSError) as exc:
        return CheckResult(check, "not_run", error=f"sandbox failed: {type(exc).__name__}: {exc}")
    if result.ok:
        return CheckResult(check, "pass", seconds=result.duration)
    status = "timeout" if result.timed_out else "fail"
    tail = (result.stdout + result.stderr).strip()[-400:]
    return CheckResult(check, status, error=f"exit code {result.exit_code}: {tail}", seconds=result.duration)


async def run_test_sources(
    provider: SandboxProvider,
    program: str,
    sources: Sequence[str],
    entry_point: str | None,
    limits: TestLimits,
) -> tuple[RunReport, list[str]]:
    """Run every source against ``program`` and merge the results into one report.

    Args:
        provider: where to lease sandboxes.
        program: the candidate's source.
        sources: test code, pytest files, or shell commands (``$ pytest -q``), each a string.
        entry_point: the function under test (for ``check(candidate)`` style tests).
        limits: time limits and interpreter.

    Returns:
        The merged report and notes on sources that could not be split.
    """
    merged = RunReport()
    notes: list[str] = []
    checks: list[Check] = []
    for source in sources:
        if _is_command(source):
            merged.results.append(await _run_command(provider, program, source, limits.max_seconds))
            continue
        split = split_tests(source, entry_point)
        if split.error:
            notes.append(split.error)
        if split.needs_pytest:
            part = await run_pytest(
                provider, program, source, python=limits.python, timeout=limits.max_seconds
            )
            _merge(merged, part)
        else:
            checks += split.checks
    if checks:
        part = await run_checks(
            provider,
            program,
            checks,
            python=limits.python,
            per_check_timeout=limits.per_check_timeout,
            load_timeout=limits.load_timeout,
            max_seconds=limits.max_seconds,
        )
        _merge(merged, part)
    return merged, notes


def _merge(into: RunReport, part: RunReport) -> None:
    into.results += part.results
    into.execs += part.execs
    into.load_error = into.load_error or part.load_error
    into.sandbox_error = into.sandbox_error or part.sandbox_error
