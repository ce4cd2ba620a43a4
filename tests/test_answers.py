"""Answer extraction and normalisation: equal answers must give equal keys, different ones must not."""

from __future__ import annotations

import pytest

from agentscale.answers import answers_match, extract_answer, normalize_answer, parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so 3 + 4 = 7\n#### 7", "7"),
        ("We get \\boxed{\\frac{1}{2}} in the end.", "\\frac{1}{2}"),
        ("first \\boxed{3}, then corrected: \\boxed{4}", "4"),
        ("\\boxed{x^{2}}", "x^{2}"),
        ("The answer is 42.", "42"),
        ("The final answer is 3.5.", "3.5"),
        ("Final answer: 1,000. That is all.", "1,000"),
        ("Answer: (C)", "(C)"),
        ("She has 12 apples and gives away 5, leaving 7 apples", "7"),
        ("B", "B"),
        ("", None),
        ("   ", None),
        ("a long rambling text\nwith no number at all\nand several lines", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1,000", "1000"),
        ("1000.0", "1000"),
        ("1,000,000.50", "1000000.5"),
        ("$1,000", "1000"),
        ("-$5", "-5"),
        ("3/4", "0.75"),
        ("\\frac{3}{4}", "0.75"),
        ("\\dfrac{3}{4}", "3/4"),
        ("\\frac34", "0.75"),
        ("$\\boxed{\\frac{1}{3}}$", "1/3"),
        ("2/6", "1/3"),
        ("50%", "50"),
        ("50\\%", "50"),
        ("18 dollars", "18"),
        ("1e3", "1000"),
        ("  Hello   World. ", "hello world"),
        ("'yes'", "Yes"),
        ("\\text{Yes}", "yes"),
        ("The answer is 42.", "42"),
        ("#### 18", "18"),
        ("x = 5", "5"),
        ("(1, 2.0)", "(1,2)"),
        ("10^\\circ", "10"),
        ("\\left( 1, 2 \\right)", "(1,2)"),
        # number words, mixed numbers, arithmetic of literals, equations
        ("twenty-one", "21"),
        ("One hundred and five apples", "105"),
        ("three quarters", "0.75"),
        ("a dozen", "12"),
        ("minus seven", "-7"),
        ("2 1/2 cups", "5/2"),
        ("3 * (4 + 2)", "18"),
        ("2^{10}", "1024"),
        ("12 \\times 5", "60"),
        ("\\frac{7}{2} - 1", "2.5"),
        ("3 * 4 = 12", "12"),
        ("The answer is 6 * 7 = 42.", "42"),
    ],
)
def test_equal_answers_normalise_equal(a, b):
    assert normalize_answer(a) == normalize_answer(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1,000", "1"), ("1,2", "12"), ("0.75", "0.7"), ("1/3", "0.33"), ("yes", "no"), ("-5", "5"),
        ("2023-01-01", "2021"), ("none", "1"), ("the second", "2"), ("two thirds", "3/2"), ("2 1/2", "3"),
    ],
)
def test_different_answers_stay_different(a, b):
    assert normalize_answer(a) != normalize_answer(b)
    assert not answers_match(a, b)


def test_canonical_forms():
    assert normalize_answer("1000.0") == "1000"
    assert normalize_answer("0.50") == "0.5"
    assert normalize_answer("1/3") == "1/3"
    assert normalize_answer(None) == ""


def test_answers_match_tolerance_and_percent():
    assert answers_match("0.3333333", "1/3")
    assert not answers_match("0.33", "1/3")
    assert answers_match("50%", "0.5")
    assert answers_match("0.5", "50%")
    assert answers_match("The answer is \\boxed{1,000}", "1000")
    assert not answers_match(None, "1")
    assert not answers_match("", "")


def test_parse_number():
    assert parse_number("1,000") == 1000
    assert parse_number("-2.5") == -2.5
    assert parse_number("3/4") == parse_number("0.75")
    for bad in ("1,00", "abc", "1/0", "", "1.2.3", "--1"):
        assert parse_number(bad) is None, bad
