"""The state reducers: rollouts are appended once per id, verdicts merge by rollout id."""

from __future__ import annotations

from agentscale.state import merge_rollouts, merge_verdicts
from agentscale.types import Rollout, Verdict


def test_merge_rollouts_appends_and_replaces_by_id():
    a, b = Rollout(id="a", task_id="t", output="1"), Rollout(id="b", task_id="t", output="2")
    merged = merge_rollouts([a], [b])
    assert [r.id for r in merged] == ["a", "b"]
    replayed = merge_rollouts(merged, [b])  # a replayed write does not count twice
    assert [r.id for r in replayed] == ["a", "b"]
    updated = merge_rollouts(replayed, [a.model_copy(update={"output": "3"})])
    assert [(r.id, r.output) for r in updated] == [("a", "3"), ("b", "2")]
    assert merge_rollouts(None, a) == [a] and merge_rollouts([a], None) == [a]


def test_merge_verdicts_newer_wins():
    old = Verdict(rollout_id="a", score=0.1, passed=False)
    new = Verdict(rollout_id="a", score=0.9, passed=True)
    other = Verdict(rollout_id="b", score=0.5, passed=False)
    assert merge_verdicts({"a": old}, {"a": new, "b": other}) == {"a": new, "b": other}
    assert merge_verdicts(None, None) == {}
