"""Run a pytest file against a program in a sandbox, one result per test case (JUnit XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agentscale.errors import SandboxError, SandboxUnavailable
from agentscale.protocols import SandboxProvider
from agentscale.verifiers._checks import Check
from agentscale.verifiers._run import PROGRAM, CheckResult, RunReport

__all__ = ["run_pytest"]

REPORT = "_as_report.xml"
_MAX_REPORT = 5_000_000


def _case_result(case: ET.Element) -> CheckResult:
    name = f"{case.get('classname', '')}::{case.get('name', '?')}".strip(":")
    check = Check(name, "exec", case.get("name", "?"), origin="pytest")
    seconds = float(case.get("time") or 0.0)
    for tag, status in (("failure", "fail"), ("error", "error"), ("skipped", "not_run")):
        node = case.find(tag)
        if node is not None:
            message = node.get("message") or (node.text or "").strip().splitlines()[-1:] or [tag]
            message = message if isinstance(message, str) else message[0]
            return CheckResult(check, status, error=message[:600], seconds=seconds)
    return CheckResult(check, "pass", seconds=seconds)


async def run_pytest(
    provider: SandboxProvider,
    program: str,
    test_source: str,
    *,
    python: str = "python3",
    timeout: float = 60.0,
    test_file: str = "test_candidate.py",
) -> RunReport:
    """Run ``test_source`` with pytest next to ``program`` (importable as ``solution``).

    The test file gets ``from solution import *`` prepended, so tests may use the candidate's
    names directly. A hang is bounded by ``timeout`` for the whole file (pytest has no
    per-test limit here); then every test is reported as timed out.

    Args:
        provider: where to lease a sandbox.
        program: the candidate's source.
        test_source: a pytest file.
        python: the interpreter inside the sandbox (pytest must be installed for it).
        timeout: seconds for the whole pytest run.
        test_file: the test file's name in the sandbox.

    Returns:
        One result per test case; failures of the run itself are recorded in the report.

    Raises:
        SandboxUnavailable: no sandbox backend can run here.
    """
    report = RunReport()
    files = {PROGRAM: program, test_file: "from solution import *  # added by agentscale\n" + test_source}
    argv = [python, "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={REPORT}", test_file]
    try:
        async with provider.lease() as sandbox:
            result = await sandbox.run(argv, files=files, timeout=timeout)
            report.execs.append(result)
            raw = (await sandbox.read_files([REPORT])).get(REPORT, b"")
    except SandboxUnavailable:
        raise
    except (SandboxError, OSError) as exc:
        report.sandbox_error = f"{type(exc).__name__}: {exc}"
        return report
    if "No module named pytest" in result.stderr:
        report.sandbox_error = f"pytest is not installed for {python} in the sandbox"
        return report
    if not raw or len(raw) > _MAX_REPORT:
        what = "timed out" if result.timed_out else f"ended with exit code {result.exit_code} and no report"
        report.load_error = f"pytest {what}: {(result.stdout + result.stderr).strip()[-300:]}"
        return report
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        report.load_error = f"pytest's report is unreadable: {exc}"
        return report
    report.results = [_case_result(case) for case in root.iter("testcase")]
    if not report.results:
        errors = root.find(".//error")
        report.load_error = "pytest collected no tests" + (
            f": {errors.get('message')}" if errors is not None and errors.get("message") else ""
        )
    return report
