"""The demo's command line: problem lists, options, and what an unusable sandbox backend says."""

from __future__ import annotations

import argparse

import pytest

from agentscale.cli import build_parser
from agentscale.cli.demo import _SANDBOX_HINT, DEFAULT_PROBLEMS, parse_problems
from agentscale.errors import ConfigError


def test_problem_lists():
    assert parse_problems("2,12, 23") == [2, 12, 23]
    assert parse_problems("0-3") == [0, 1, 2, 3]
    assert parse_problems("0-119:40") == [0, 40, 80]
    assert len(parse_problems(DEFAULT_PROBLEMS)) == 5
    for bad in ("two", "1-x", ""):
        with pytest.raises(ConfigError, match="--problems"):
            parse_problems(bad)


def test_demo_options():
    args = build_parser().parse_args(["demo", "--problems", "0-9", "--n", "8", "--strategy", "adaptive"])
    assert (args.problems, args.n, args.strategy, args.backend) == ("0-9", 8, "adaptive", "auto")
    assert args.question is None and args.max_tokens is None and args.model == "qwen2.5-coder-0.5b"
    # the chat format (a model with a chat template) and the default code selection, unless asked
    assert (args.format, args.selection, args.write_candidates) == (None, "code", None)
    old = build_parser().parse_args(["demo", "--format", "fence", "--selection", "best_score"])
    assert (old.format, old.selection) == ("fence", "best_score")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--strategy", "evolve"])


def test_the_sandbox_hint_names_both_ways_to_get_one():
    assert "scripts/sandbox-deps.sh" in _SANDBOX_HINT and "scripts/docker-engine.sh" in _SANDBOX_HINT


async def test_bad_n_is_refused_before_anything_starts():
    from agentscale.cli.demo import _demo

    with pytest.raises(ConfigError, match="--n"):
        await _demo(argparse.Namespace(n=0, problems="1"))
