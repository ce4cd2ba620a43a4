"""Reproduction-test selection in real Docker sandboxes on a generated fixture task: the gold patch (the
reverse of the injected bug) and a wrong one, scripted reproduction tests (one deletes the package, one
reproduces the issue, one passes without a fix, one hangs), each patch and the base commit in a fresh
container: the fix wins.

The model is scripted (no model server): what is tested is that the tests really run against each
patch, and that the vote, not the input order or the visible tests, picks the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentscale.errors import SandboxUnavailable
from agentscale.graphs.swe import (
    PatchSelector,
    PythonDeps,
    RepoSource,
    ReproWriter,
    load_instances,
    materialize_repos,
    swe_task,
)
from agentscale.testing import FakeModel
from agentscale.types import Rollout

pytestmark = [pytest.mark.slow, pytest.mark.docker]
TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "swe" / "tasks.jsonl"
IID = "pypi__inflection-0.5.1-07"
REPRODUCES = """```python
import inflection


def test_camelize_lower_first_letter():
    assert inflection.camelize('Capital', False) == 'capital'
```"""
ALWAYS_PASSES = """```python
import inflection


def test_camelize_upper():
    assert inflection.camelize('special_guest') == 'SpecialGuest'
```"""
DESTROYS = """```python
import os
os.remove("inflection/__init__.py")
assert not os.path.exists("inflection/__init__.py")
```"""
HANGS = """```python
import time


def test_waits_forever():
    time.sleep(600)
```"""


def _cache() -> Path:
    value = os.environ.get("AGENTSCALE_CACHE")
    return (Path(value) if value else Path.home() / ".cache" / "agentscale") / "swe"


async def test_the_reproduction_tests_pick_the_fix_in_real_sandboxes():
    from agentscale.sandboxes import SandboxLimits, open_pool

    instance = load_instances(TASKS).instances[IID]
    assert materialize_repos([instance], _cache() / "repos", _cache()) == {}
    gold = instance.patch
    wrong = gold.replace("+        return string[0].lower() + camelize(string)[1:]", "+        return string")
    assert wrong != gold
    task = swe_task(instance)
    # the wrong patch first: the rule (the earliest) and equal verdicts alone would choose it
    rollouts = [Rollout(id="wrong", task_id=IID, output=wrong), Rollout(id="gold", task_id=IID, output=gold)]
    # the destructive test first: the next one reproduces the issue only if the checkout was restored
    model = FakeModel([DESTROYS, REPRODUCES, ALWAYS_PASSES, HANGS])
    selector = PatchSelector(None, RepoSource(root=_cache() / "repos"), PythonDeps(_cache() / "deps"),  # type: ignore[arg-type]
                             writer=ReproWriter(model, count=4), timeout=5)  # fmt: skip
    try:
        async with open_pool("docker", size=3, limits=SandboxLimits(timeout=120, memory_mb=512)) as pool:
            selector.sandboxes = pool
            chosen = await selector.select(task, rollouts, {})
    except SandboxUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"docker unavailable under CI: {exc}")
        pytest.skip(f"docker unavailable: {exc}")
    assert chosen.rollout_id == "gold", chosen.reason
    assert chosen.scores == {"wrong": 0.0, "gold": 1.0}
    assert "4 reproduction test(s)" in chosen.reason and "1 of 4 informative" in chosen.reason
    assert "test 1: passes without any patch" in chosen.reason and "test 3: passes without any patch" in chosen.reason
    assert "test 4: every candidate fails it" in chosen.reason
