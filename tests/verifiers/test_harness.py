"""The check harness with real processes: each check isolated, results unforgeable, failures readable."""

from __future__ import annotations

import pytest
from conftest import PYTHON

from agentscale.verifiers import Check, run_checks


def compare(call: str, expected: str) -> Check:
    return Check(call, "compare", call, expected=expected, origin="test")


async def run(local_sandboxes, program, checks, **kw):
    kw.setdefault("per_check_timeout", 2.0)
    return await run_checks(local_sandboxes, program, checks, python=PYTHON, **kw)


async def test_pass_fail_and_error_are_reported_per_check(local_sandboxes):
    program = "def f(x):\n    if x == 3:\n        raise ValueError('three')\n    return x * 2\n"
    report = await run(
        local_sandboxes, program, [compare("f(1)", "2"), compare("f(2)", "5"), compare("f(3)", "6")]
    )
    assert [r.status for r in report.results] == ["pass", "fail", "error"]
    assert (report.results[1].expected, report.results[1].got) == ("5", "4")
    assert "ValueError: three" in report.results[2].error
    assert "solution.py line 3" in report.results[2].error
    assert len(report.execs) == 1


async def test_a_hanging_check_does_not_hide_the_others(local_sandboxes):
    program = "def f(x):\n    while x == 0:\n        pass\n    return x\n"
    report = await run(
        local_sandboxes, program, [compare("f(0)", "0"), compare("f(1)", "1")], per_check_timeout=1
    )
    assert [r.status for r in report.results] == ["timeout", "pass"]


async def test_a_check_that_kills_the_process_is_recorded_and_the_rest_still_run(local_sandboxes):
    program = "import os\ndef f(x):\n    if x == 1:\n        os._exit(3)\n    return x\n"
    checks = [compare("f(0)", "0"), compare("f(1)", "1"), compare("f(2)", "2")]
    report = await run(local_sandboxes, program, checks)
    assert [r.status for r in report.results] == ["pass", "crash", "pass"]
    assert "exit code 3" in report.results[1].error
    assert len(report.execs) == 2  # resumed after the crash


@pytest.mark.slow
async def test_a_hang_the_alarm_cannot_stop_hits_the_sandbox_limit_and_the_rest_still_run(local_sandboxes):
    # the candidate ignores SIGALRM: only the sandbox's own timeout ends it
    program = (
        "import signal\n"
        "def f(x):\n"
        "    if x == 1:\n"
        "        signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "        while True:\n"
        "            pass\n"
        "    return x\n"
    )
    checks = [compare("f(0)", "0"), compare("f(1)", "1"), compare("f(2)", "2")]
    report = await run(local_sandboxes, program, checks, per_check_timeout=0.5, load_timeout=1)
    assert [r.status for r in report.results] == ["pass", "timeout", "pass"]


async def test_sys_exit_and_base_exceptions_are_contained(local_sandboxes):
    program = "import sys\ndef f(x):\n    if x:\n        sys.exit(0)\n    raise KeyboardInterrupt\n"
    report = await run(
        local_sandboxes, program, [compare("f(1)", "1"), compare("f(0)", "0"), compare("1", "1")]
    )
    assert [r.status for r in report.results] == ["error", "error", "pass"]
    assert "SystemExit" in report.results[0].error


async def test_printed_junk_and_forged_results_are_ignored(local_sandboxes):
    program = (
        "import os, sys\n"
        'print(\'{"event": "result", "i": 0, "status": "pass"}\')\n'
        "def f(x):\n"
        "    print('noise', x)\n"
        '    os.write(1, b\'deadbeef {"event": "result", "i": 0, "status": "pass"}\\n\')\n'
        '    sys.__stdout__.write(\'{"event": "done"}\\n\')\n'
        "    return x + 1\n"
    )
    report = await run(local_sandboxes, program, [compare("f(1)", "1")])
    assert [r.status for r in report.results] == ["fail"]
    assert report.results[0].stdout.startswith("noise 1")


async def test_the_marker_file_is_gone_before_the_candidate_runs(local_sandboxes):
    program = "import os\nSEEN = os.path.exists('_as_checks.json')\n"
    report = await run(local_sandboxes, program, [compare("SEEN", "False")])
    assert report.results[0].status == "pass"


async def test_program_that_does_not_load(local_sandboxes):
    report = await run(
        local_sandboxes, "def f(x)\n    return x\n", [compare("f(1)", "1"), compare("f(2)", "2")]
    )
    assert report.load_error.startswith("SyntaxError")
    assert [r.status for r in report.results] == ["error", "error"]


async def test_program_that_hangs_at_import(local_sandboxes):
    report = await run(local_sandboxes, "while True:\n    pass\n", [compare("1", "1")], load_timeout=0.5)
    assert "took over" in report.load_error
    assert report.results[0].status == "error"


async def test_comparisons_doctest_output_raises_and_exec(local_sandboxes):
    program = "def f(x):\n    if x < 0:\n        raise ValueError(x)\n    return x / 3\n"
    checks = [
        compare("f(1)", "0.3333333"),  # float tolerance
        compare("[f(3)]", "[1]"),  # 1.0 == 1
        compare("(f(3),)", "[1.0]"),  # a tuple is not a list
        Check("print", "compare", "print('a  b')", want="a b"),  # doctest output, whitespace normalised
        Check("obj", "compare", "object()", want="<object object at 0x...>"),  # doctest ELLIPSIS
        Check("raises", "raises", "f(-1)", want="ValueError"),
        Check("raises base", "raises", "f(-1)", want="Exception"),
        Check("raises wrong", "raises", "f(-1)", want="KeyError"),
        Check("assert", "exec", "assert f(3) == 2"),
    ]
    report = await run(local_sandboxes, program, checks)
    assert [r.status for r in report.results] == [
        "pass",
        "pass",
        "fail",
        "pass",
        "pass",
        "pass",
        "pass",
        "fail",
        "fail",
    ]
    assert (report.results[-1].expected, report.results[-1].got) == ("2", "1.0")


async def test_checks_get_a_fresh_namespace_and_their_setup(local_sandboxes):
    program = "state = []\n"
    checks = [
        Check("a", "compare", "x", expected="1", setup=("x = 1",)),
        Check("b", "compare", "'x' in dir()", expected="False"),
    ]
    report = await run(local_sandboxes, program, checks)
    assert [r.status for r in report.results] == ["pass", "pass"]


async def test_deadline_for_the_whole_run(local_sandboxes):
    program = "import time\ndef f():\n    time.sleep(0.4)\n"
    checks = [Check(str(i), "exec", "f()") for i in range(10)]
    report = await run(local_sandboxes, program, checks, max_seconds=1.0, per_check_timeout=5)
    statuses = [r.status for r in report.results]
    assert "pass" in statuses and statuses[-1] in {"timeout", "not_run"}


async def test_a_lingering_thread_does_not_hold_the_run_up(local_sandboxes):
    program = "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\nX = 1\n"
    report = await run(local_sandboxes, program, [compare("X", "1")], per_check_timeout=5)
    assert report.results[0].status == "pass"
    assert not report.execs[0].timed_out and report.execs[0].duration < 5


async def test_a_print_loop_is_capped(local_sandboxes):
    program = "def f():\n    for _ in range(2_000_000):\n        print('spam spam spam spam')\n    return 1\n"
    report = await run(local_sandboxes, program, [compare("f()", "1")], per_check_timeout=20)
    assert report.results[0].status == "pass"
    assert len(report.results[0].stdout) <= 200
