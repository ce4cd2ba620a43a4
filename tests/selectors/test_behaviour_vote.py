"""BehaviourVote: programs vote for what they did on the checked inputs."""

from __future__ import annotations

import json

from agentscale.selectors import behaviour_key
from agentscale.types import Verdict


def test_behaviour_key_groups_programs_by_what_they_did():
    def verdict(*checks, load_error=None):
        evidence = {"checks": list(checks), "load_error": load_error}
        return Verdict(rollout_id="r", score=0.0, passed=False, evidence=evidence)

    passing = {"status": "pass"}
    wrong = {"status": "fail", "expected": "3", "got": "4"}
    crash = {"status": "error", "error": "ZeroDivisionError: division by zero (solution.py line 3: x/0)"}
    crash_elsewhere = {
        "status": "error",
        "error": "ZeroDivisionError: division by zero (solution.py line 9: y/0)",
    }
    assert behaviour_key(verdict(passing, passing)) == behaviour_key(verdict(passing, passing))
    assert behaviour_key(verdict(passing, wrong)) != behaviour_key(verdict(passing, passing))
    assert json.loads(behaviour_key(verdict(wrong))) == ["got 4"]
    assert behaviour_key(verdict(crash)) == behaviour_key(verdict(crash_elsewhere))
    assert behaviour_key(verdict(passing, load_error="SyntaxError")) is None
    assert behaviour_key(verdict()) is None and behaviour_key(None) is None


