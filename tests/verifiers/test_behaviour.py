"""observe_behaviours: every candidate on every input in one lease, each input isolated, with real
processes (the plain-subprocess sandbox of conftest; the real backends are in test_real_sandboxes)."""

from __future__ import annotations

from agentscale.testing import FakeSandboxProvider
from agentscale.verifiers.behaviour import observe_behaviours
from agentscale.verifiers.generated_inputs import ModelTest

PY = "/usr/bin/python3"
SORTS = "def f(x):\n    return sorted(x)\n"
LOOPS_ON_PAIRS = "def f(x):\n    if len(x) == 2:\n        while True:\n            pass\n    return sorted(x)\n"
DIES_ON_SINGLES = (
    "import os\ndef f(x):\n    if len(x) == 1:\n        os._exit(3)\n    return [float(v) for v in sorted(x)]\n"
)
FIRST = "def f(x):\n    return x[0]\n"
INPUTS = ["f([3, 1, 2])", "f([2, 1])", "f([5])", "f([])", "f(1)"]


async def test_one_lease_and_a_hang_or_crash_loses_only_that_input(local_sandboxes):
    programs = [SORTS, LOOPS_ON_PAIRS, DIES_ON_SINGLES, FIRST, None, "def f(x) return\n"]
    table = await observe_behaviours(
        local_sandboxes, programs, INPUTS, [ModelTest("f([2, 1])", "[1, 2]")], python=PY, per_input_timeout=0.5
    )
    assert local_sandboxes.leases == 1
    kinds = [[o.kind for o in row] for row in table.outcomes]
    assert kinds[0] == ["value", "value", "value", "value", "raised"]
    assert kinds[1] == ["value", "timeout", "value", "value", "raised"]  # lost only f([2, 1])
    assert kinds[2] == ["value", "value", "crash", "value", "raised"]  # lost only f([5])
    assert kinds[3] == ["value", "value", "value", "raised", "raised"]
    assert kinds[4] == ["not_run"] * 5 and table.load_errors[4] == "no program"
    assert kinds[5] == ["not_run"] * 5 and "SyntaxError" in table.load_errors[5]
    # equal values compare equal whatever their type of number; different values differ
    keys = [[o.key for o in row] for row in table.outcomes]
    assert keys[0][0] == keys[1][0] == keys[2][0] != keys[3][0]
    assert keys[0][4] == "e:TypeError" and keys[3][3] == "e:IndexError"
    # the input on which everyone raised is not useful; the others are
    assert table.useful_inputs() == [0, 1, 2, 3]
    assert [row[0] for row in table.test_passed] == [True, None, True, False, None, None]


async def test_values_compare_by_canonical_form(local_sandboxes):
    programs = [
        "def f(x):\n    return 0.1 + 0.2\n",
        "def f(x):\n    return 0.3\n",
        "def f(x):\n    return {'b': 2.0, 'a': [1]}\n",
        "def f(x):\n    d = {}\n    d['a'] = [1.0]\n    d['b'] = 2\n    return d\n",
        "def f(x):\n    return (1, 2)\n",
        "def f(x):\n    return [1, 2]\n",
        "def f(x):\n    return object()\n",
        "def f(x):\n    return object()\n",
    ]
    table = await observe_behaviours(local_sandboxes, programs, ["f(0)"], python=PY)
    keys = [row[0].key for row in table.outcomes]
    assert keys[0] == keys[1]
    assert keys[2] == keys[3]
    assert keys[4] != keys[5]  # a tuple is not a list (== says so too)
    assert keys[6] == keys[7]  # addresses do not count


async def test_a_deadline_bounds_the_table_and_programs_share_it(local_sandboxes):
    forever = "def f(x):\n    while True:\n        pass\n"
    table = await observe_behaviours(
        local_sandboxes,
        [forever, SORTS],
        ["f([1])", "f([2])", "f([3])"],
        python=PY,
        per_input_timeout=1.0,
        max_seconds=3.0,
    )
    assert table.seconds < 6
    assert [o.kind for o in table.outcomes[1]] == ["value"] * 3  # the looping one did not starve it


async def test_nothing_runs_on_the_host():
    """Programs and calls only ever reach the sandbox, as files of the harness."""
    provider = FakeSandboxProvider()
    await observe_behaviours(provider, ["def f(x):\n    return x\n"], ["f(__import__('os'))"])
    (sandbox,) = provider.leased
    assert any("__import__" in data.decode() for name, data in sandbox.files.items() if name.endswith(".json"))
    assert all(argv[0] == "python3" for argv in sandbox.commands)
