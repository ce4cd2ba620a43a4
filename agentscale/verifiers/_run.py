"""Run checks against a program in a leased sandbox, each isolated, and collect per-check results.

One harness process runs the checks in order, each under its own alarm. When the process dies
or hangs (``os._exit``, a C-level infinite loop, the memory limit), the check it was running is
recorded as crashed/timed out and a new process resumes with the next check, so one bad example
never hides the others. A deadline for the whole run bounds the total.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agentscale.errors import SandboxError, SandboxUnavailable
from agentscale.protocols import Sandbox, SandboxProvider
from agentscale.types import ExecResult
from agentscale.verifiers._checks import Check

__all__ = ["CheckResult", "RunReport", "run_checks", "run_checks_in"]

HARNESS = "_as_harness.py"
CHECKS_FILE = "_as_checks.json"
PROGRAM = "solution.py"


@functools.cache
def _harness_source() -> str:
    return (Path(__file__).parent / "_harness_script.py").read_text()


Status = Literal["pass", "fail", "error", "timeout", "crash", "not_run"]


@dataclass
class CheckResult:
    """What happened to one check."""

    check: Check
    status: Status
    expected: str | None = None
    got: str | None = None
    error: str | None = None
    seconds: float = 0.0
    stdout: str = ""
    digest: str | None = None
    """For ``observe`` checks that returned: a digest of the value's canonical form."""
    raised: str | None = None
    """For checks that raised: the exception's type name."""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_json(self) -> dict:
        record = {"name": self.check.name, "origin": self.check.origin, "status": self.status}
        for key in ("expected", "got", "error", "stdout"):
            if value := getattr(self, key):
                record[key] = value
        record["seconds"] = self.seconds
        return record


@dataclass
class RunReport:
    """Every check's result, plus what went wrong outside the checks.

    Attributes:
        results: one per check, in order.
        load_error: why the program could not be loaded (then every check failed with it).
        sandbox_error: why the sandbox itself failed (then checks not reached are ``not_run``).
        execs: the raw result of each harness process.
    """

    results: list[CheckResult] = field(default_factory=list)
    load_error: str | None = None
    sandbox_error: str | None = None
    execs: list[ExecResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)


def _parse(stdout: str, marker: str) -> list[dict]:
    records = []
    prefix = marker + " "
    for line in stdout.splitlines():
        if line.startswith(prefix):
            try:
                records.append(json.loads(line[len(prefix) :]))
            except json.JSONDecodeError:
                continue
    return records


def _why_it_died(result: ExecResult, per_check_timeout: float) -> tuple[Status, str]:
    if result.timed_out:
        return "timeout", f"no result within the sandbox time limit (check limit {per_check_timeout:g}s)"
    if result.oom_killed:
        return "crash", "killed: memory limit"
    tail = (result.stderr or "").strip().splitlines()[-1:] or [""]
    return (
        "crash",
        f"the process ended during this check (exit code {result.exit_code}) {tail[0][:200]}".strip(),
    )


async def run_checks(
    provider: SandboxProvider,
    program: str,
    checks: Sequence[Check],
    *,
    python: str = "python3",
    per_check_timeout: float = 5.0,
    load_timeout: float = 10.0,
    max_seconds: float = 120.0,
    files: Mapping[str, str] | None = None,
) -> RunReport:
    """Run ``checks`` against ``program`` in one sandbox lease.

    Args:
        provider: where to lease a sandbox.
        program: the candidate's source, written as ``solution.py``.
        checks: what to run, each isolated.
        python: the interpreter inside the sandbox.
        per_check_timeout: seconds one check may take (alarm inside the harness).
        load_timeout: seconds loading the program may take.
        max_seconds: deadline for everything, restarts included.
        files: extra files to place beside the program.

    Returns:
        The report; sandbox failures are recorded in it, not raised.

    Raises:
        SandboxUnavailable: no sandbox backend can run here (a setup problem, not the candidate's).
    """
    report = None
    try:
        async with provider.lease() as sandbox:
            report = await run_checks_in(
                sandbox,
                program,
                checks,
                python=python,
                per_check_timeout=per_check_timeout,
                load_timeout=load_timeout,
                max_seconds=max_seconds,
                files=files,
            )
    except SandboxUnavailable:
        raise
    except (SandboxError, OSError) as exc:
        if report is None:  # the lease failed: nothing ran
            return _finish(RunReport(sandbox_error=f"{type(exc).__name__}: {exc}"), {}, checks)
        report.sandbox_error = report.sandbox_error or f"{type(exc).__name__}: {exc}"
    assert report is not None
    return report


_CHDIR_AND_RUN = (
    "import os, sys; os.chdir(sys.argv[1]); sys.argv = sys.argv[2:]; "
    "exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'), {'__name__': '__main__'})"
)


async def run_checks_in(
    sandbox: Sandbox,
    program: str,
    checks: Sequence[Check],
    *,
    python: str = "python3",
    per_check_timeout: float = 5.0,
    load_timeout: float = 10.0,
    max_seconds: float = 120.0,
    files: Mapping[str, str] | None = None,
    workdir: str = "",
) -> RunReport:
    """Like ``run_checks``, in a sandbox already leased (several programs can share one lease).

    Args:
        sandbox: a leased sandbox.
        program: the candidate's source, written as ``solution.py``.
        checks: what to run, each isolated.
        python: the interpreter inside the sandbox.
        per_check_timeout: seconds one check may take.
        load_timeout: seconds loading the program may take.
        max_seconds: deadline for everything, restarts included.
        files: extra files to place beside the program.
        workdir: a subdirectory of the sandbox's work dir to run in (``""``: the work dir), so
            programs sharing a lease do not overwrite each other's files.

    Returns:
        The report; sandbox failures are recorded in it, not raised.

    Raises:
        SandboxUnavailable: no sandbox backend can run here.
    """
    report = RunReport()
    results: dict[int, CheckResult] = {}
    deadline = time.monotonic() + max_seconds
    start = 0
    prefix = f"{workdir.strip('/')}/" if workdir.strip("/") else ""
    command = [python, "-B", "-c", _CHDIR_AND_RUN, prefix or ".", HARNESS] if prefix else [python, "-B", HARNESS]
    try:
        first = True
        single = False  # one check per process: for sandboxes that return no output on timeout
        while start < len(checks):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            stop = start + 1 if single else len(checks)
            marker = secrets.token_hex(16)
            spec = {
                "marker": marker,
                "checks": [c.to_json() for c in checks],
                "start": start,
                "stop": stop,
                "per_check_timeout": per_check_timeout,
                "load_timeout": load_timeout,
                "program": PROGRAM,
            }
            run_files: dict[str, str] = {CHECKS_FILE: json.dumps(spec)}
            if first:
                run_files.update({**(files or {}), PROGRAM: program, HARNESS: _harness_source()})
                first = False
            budget = load_timeout + per_check_timeout * (stop - start) + 2.0
            capped = left < budget
            result = await sandbox.run(
                command, files={prefix + k: v for k, v in run_files.items()}, timeout=min(budget, left)
            )
            report.execs.append(result)
            records = _parse(result.stdout, marker)
            if not records and result.timed_out and not single and not capped:
                single = True  # no output at all: find the culprit one check at a time
                continue
            load = next((r for r in records if r.get("event") == "load"), None)
            if load is not None and not load.get("ok"):
                report.load_error = load.get("error") or "the program failed to load"
                break
            if load is None and not single:
                _, why = _why_it_died(result, per_check_timeout)
                report.load_error = f"the program did not load: {why}"
                break
            started = start if single and load is None else None
            for record in records:
                i = record.get("i")
                if record.get("event") in ("start", "result") and not (isinstance(i, int) and start <= i < stop):
                    continue  # not a record this run could have written
                if record.get("event") == "start":
                    started = i
                elif record.get("event") == "result":
                    results[i] = CheckResult(
                        check=checks[i],
                        status=record.get("status", "error"),
                        expected=record.get("expected"),
                        got=record.get("got"),
                        error=record.get("error"),
                        seconds=record.get("seconds", 0.0),
                        stdout=record.get("stdout", ""),
                        digest=record.get("digest"),
                        raised=record.get("raised"),
                    )
                    started = None
            if any(r.get("event") == "done" for r in records):
                start = stop
                continue
            done_here = [i for i in results if start <= i < stop]
            culprit = started if started is not None else max(done_here, default=start - 1) + 1
            if culprit >= len(checks):
                break
            status, why = _why_it_died(result, per_check_timeout)
            if capped and result.timed_out:
                why = "the time budget for this candidate ran out during this check"
            results[culprit] = CheckResult(check=checks[culprit], status=status, error=why)
            start = culprit + 1
    except SandboxUnavailable:
        raise
    except (SandboxError, OSError) as exc:
        report.sandbox_error = f"{type(exc).__name__}: {exc}"
    return _finish(report, results, checks)


def _finish(report: RunReport, results: Mapping[int, CheckResult], checks: Sequence[Check]) -> RunReport:
    """Fill ``report.results`` in check order, accounting for checks that never ran."""
    for i, check in enumerate(checks):
        if report.load_error is not None and i not in results:
            report.results.append(CheckResult(check=check, status="error", error=report.load_error))
        elif i in results:
            report.results.append(results[i])
        else:
            why = report.sandbox_error or "the time budget for this candidate ran out"
            report.results.append(CheckResult(check=check, status="not_run", error=why))
    return report
