"""Reading judges' replies: scores and choices, from clean JSON to chatter."""

from __future__ import annotations

import pytest

from agentscale._judging import candidate_text, json_objects, parse_choice, parse_pair_choice, parse_score
from agentscale.types import Rollout


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"score": 7, "reason": "ok"}', 7.0),
        ('Sure!\n```json\n{"score": "8/10", "reason": "good"}\n```\nHope this helps.', 8.0),
        ("{'score': 6, 'reason': 'python quotes'}", 6.0),
        ('{"Rating": 9}', 9.0),
        ("Score: 7/10", 7.0),
        ("**Score:** 6", 6.0),
        ("Rating: 4 out of 5", 8.0),
        ("I'd give it 9/10.", 9.0),
        ("7", 7.0),
        ("score of 3", 3.0),
    ],
)
def test_scores_are_read(reply, score):
    assert parse_score(reply)[0] == score


@pytest.mark.parametrize("reply", ["", "garbage", "Score: 42", '{"score": 11}', '{"score": "high"}', "-3"])
def test_unreadable_or_out_of_range_scores(reply):
    assert parse_score(reply) is None


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ('{"choice": 2, "reason": "x"}', 1),
        ('```json\n{"best": "3"}\n```', 2),
        ("The best answer is Candidate 2. Candidate 1 has a bug.", 1),
        ("Candidate 3", 2),
        ("2", 1),
        ("**2**", 1),
        ("Answer: 2", 1),
        ("I choose candidate #3 because it handles empty input.", 2),
        ("Candidate 1 and candidate 2 are both fine", None),
        ("blah", None),
        ("Candidate 7", None),
    ],
)
def test_choices_are_read(reply, choice):
    assert parse_choice(reply, 3) == choice


@pytest.mark.parametrize(
    ("reply", "choice"),
    [
        ("A", 0),
        ("Winner: B", 1),
        ("I prefer answer B because", 1),
        ("{'winner': 'A'}", 0),
        ("Both A and B", None),
    ],
)
def test_pair_choices(reply, choice):
    assert parse_pair_choice(reply) == choice


def test_json_objects_and_candidate_text():
    assert json_objects('x {"a": {"b": 1}} y {"c": 2,}') == [{"a": {"b": 1}}, {"c": 2}]
    long = Rollout(task_id="t", output="a" * 10_000, answer="42")
    text = candidate_text(long, max_chars=100)
    assert len(text) < 200 and "[... cut ...]" in text and text.endswith("Final answer: 42")
    assert candidate_text(Rollout(task_id="t")) == "(empty)"
