import pytest

from agentscale.datasets import load_humaneval
from agentscale.errors import ConfigError


def test_load_humaneval_keeps_order_and_hidden_tests():
    tasks = load_humaneval([5, 0])
    assert [t.id for t in tasks] == ["HumanEval/5", "HumanEval/0"]
    assert tasks[1].metadata["entry_point"] == "has_close_elements"
    assert "def check(candidate)" in tasks[1].metadata["hidden_test"]
    # the hidden tests never leak into what the agent sees
    assert "check(" not in tasks[1].prompt


def test_load_humaneval_all_and_bad_id():
    assert len(load_humaneval()) == 164
    with pytest.raises(ConfigError, match="0-163"):
        load_humaneval([164])
