"""SWE-bench's task and prediction formats: reading per line, writing per instance."""

from __future__ import annotations

import json

import pytest

from agentscale.errors import ConfigError
from agentscale.graphs.swe import (
    Prediction,
    PredictionWriter,
    SWEInstance,
    load_instances,
    read_instances,
    read_predictions,
    to_task,
    write_instances,
)

GOOD = {
    "instance_id": "octo__repo-1",
    "repo": "octo/repo",
    "base_commit": "0123abcd",
    "problem_statement": "calling f(2) returns 5",
    "FAIL_TO_PASS": '["tests/test_f.py::test_two"]',  # JSON-encoded, as in the published dataset
    "PASS_TO_PASS": ["tests/test_f.py::test_one"],
    "version": 3.0,
    "hints_text": "kept as an extra field",
}


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dataset_encoding_and_extra_fields_are_read():
    inst = SWEInstance.model_validate(GOOD)
    assert inst.FAIL_TO_PASS == ["tests/test_f.py::test_two"]
    assert inst.PASS_TO_PASS == ["tests/test_f.py::test_one"]
    assert inst.version == "3.0"
    assert inst.model_extra == {"hints_text": "kept as an extra field"}
    again = SWEInstance.model_validate_json(inst.model_dump_json())
    assert again == inst and again.model_extra["hints_text"] == "kept as an extra field"


def test_a_malformed_line_is_one_error_and_the_rest_is_read(tmp_path):
    lines = [
        json.dumps(GOOD),
        "{not json",
        json.dumps({**GOOD, "instance_id": "octo__repo-2", "FAIL_TO_PASS": []}),
        json.dumps({**GOOD, "instance_id": "octo__repo-3", "base_commit": None}),
        "[1, 2]",
        "",
        json.dumps({**GOOD, "instance_id": "octo__repo-4", "FAIL_TO_PASS": "not a list"}),
        json.dumps({**GOOD, "instance_id": "octo__repo-5"}),
        json.dumps(GOOD),  # a repeated id
    ]
    items = list(read_instances(_write(tmp_path / "tasks.jsonl", lines)))
    assert [i.line for i in items] == [1, 2, 3, 4, 5, 7, 8, 9]
    assert [i.instance is not None for i in items] == [True, False, False, False, False, False, True, True]
    errors = {i.line: i.error for i in items if i.error}
    assert "not valid JSON" in errors[2]
    assert "FAIL_TO_PASS is empty" in errors[3]
    assert "base_commit" in errors[4]
    assert "expected a JSON object" in errors[5]
    assert "FAIL_TO_PASS" in errors[7]
    assert items[2].instance_id == "octo__repo-2"  # the id is known even for a bad line
    assert items[1].instance_id is None


    loaded = load_instances(tmp_path / "tasks.jsonl")
    assert list(loaded.instances) == ["octo__repo-1", "octo__repo-5"]
    assert [e.line for e in loaded.errors] == [2, 3, 4, 5, 7, 9]
    assert "repeats" in loaded.errors[-1].error


def test_the_id_of_a_truncated_line_is_still_found(tmp_path):
    path = _write(tmp_path / "t.jsonl", ['{"instance_id": "octo__repo-9", "repo": "octo/re'])
    (item,) = read_instances(path)
    assert item.instance is None and item.instance_id == "octo__repo-9" and "not valid JSON" in item.error


def test_json_array_files_are_read(tmp_path):
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([GOOD, {"instance_id": "x"}]))
    items = list(read_instances(path))
    assert items[0].instance is not None and items[1].error and items[1].line == 2


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        list(read_instances(tmp_path / "nope.jsonl"))


@pytest.mark.parametrize("bad_id", ["", " x", "a/b", "a\nb"])
def test_unsafe_instance_ids_are_refused(bad_id):
    with pytest.raises(ValueError):
        SWEInstance.model_validate({**GOOD, "instance_id": bad_id})


def test_to_task_hides_what_is_for_scoring():
    inst = SWEInstance.model_validate({**GOOD, "patch": "diff --git a/x b/x", "test_patch": "diff ..."})
    task = to_task(inst)
    assert task.id == "octo__repo-1" and task.prompt == "calling f(2) returns 5" and task.repo == "octo/repo"
    dumped = task.model_dump_json()
    assert "diff --git" not in dumped and "test_two" not in dumped and "test_patch" not in dumped
    assert task.metadata["base_commit"] == "0123abcd"


def test_predictions_are_appended_and_flushed_per_instance(tmp_path):
    path = tmp_path / "out" / "preds.jsonl"
    with PredictionWriter(path) as out:
        out.write(Prediction(instance_id="a", model_name_or_path="m", model_patch="diff a"))
        # flushed to disk before the writer is closed: a crash now loses nothing written
        assert json.loads(path.read_text().splitlines()[0]) == {
            "instance_id": "a",
            "model_name_or_path": "m",
            "model_patch": "diff a",
        }
    with path.open("a") as f:
        f.write('{"instance_id": "b", "model_')  # a crash mid-line
    with PredictionWriter(path) as out:
        out.write(Prediction(instance_id="c", model_name_or_path="m", model_patch=None))
    items = list(read_predictions(path))
    assert [(i.prediction.instance_id if i.prediction else None) for i in items] == ["a", None, "c"]
    assert items[1].error and items[2].prediction.model_patch is None
    assert PredictionWriter.done_ids(path) == {"a", "c"}
    assert PredictionWriter.done_ids(tmp_path / "missing.jsonl") == set()


def test_writer_must_be_open(tmp_path):
    with pytest.raises(ConfigError, match="not open"):
        PredictionWriter(tmp_path / "p.jsonl").write(Prediction(instance_id="a"))


def test_write_instances_round_trips(tmp_path):
    inst = SWEInstance.model_validate({**GOOD, "pypi": {"name": "x"}})
    write_instances(tmp_path / "t.jsonl", [inst])
    (back,) = load_instances(tmp_path / "t.jsonl").instances.values()
    assert back == inst and back.model_extra["pypi"] == {"name": "x"}
