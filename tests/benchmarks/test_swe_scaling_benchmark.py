"""benchmarks/swe_scaling.py: the table is read off the per-task records as documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "swe_scaling.py"


def _module():
    spec = importlib.util.spec_from_file_location("swe_scaling_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _roll(index, visible, resolved, tokens=100):
    return {"index": index, "status": "ok", "visible": visible, "visible_passed": visible == 1.0,
            "resolved": resolved, "tokens": tokens}  # fmt: skip


def test_best_of_n_is_the_best_visible_score_among_the_first_n():
    records = [
        # rollout 2 is resolved and has the best visible score: only best-of-4 finds it
        {"task_id": "a", "draw": {"seconds": 40, "tokens": 400, "resolved": True,
                                  "rollouts": [_roll(0, 0.5, False), _roll(1, 0.0, False), _roll(2, 1.0, True),
                                               _roll(3, 1.0, False)]},  # fmt: skip
         "memory": {"resolved": True, "tokens": 250, "seconds": 20}},
        # nothing resolved; rollout 1 passes the visible tests but not the hidden ones
        {"task_id": "b", "draw": {"seconds": 20, "tokens": 400, "resolved": False,
                                  "rollouts": [_roll(0, 0.2, False), _roll(1, 1.0, False), _roll(2, 0.0, False),
                                               _roll(3, 0.0, False)]},  # fmt: skip
         "evolve": {"resolved": True, "tokens": 380, "seconds": 30}},
    ]
    rows = {r[0]: r for r in _module().tabulate(records, [1, 2, 4], memory_n=2)}
    assert rows["1 rollout"][1] == 0.0 and rows["1 rollout"][2] == 100
    assert rows["best-of-2, visible tests"][1] == 0.0
    assert rows["best-of-4, visible tests"][1] == 0.5 and rows["best-of-4, visible tests"][3] == "30"
    assert "oracle 50%, random pick 12%" in rows["best-of-4, visible tests"][4]
    assert rows["evolution, equal tokens"][1] == 1.0
    assert rows["best-of-2, memory on"][1] == 1.0 and rows["best-of-2, memory off"][1] == 0.0
