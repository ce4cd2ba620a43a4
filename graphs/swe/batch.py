"""SWE-bench predictions for a task file: each instance scaled, its chosen patch appended as it finishes.

``run_predictions`` runs a ``ScaledRunner`` of the ``swe`` workflow over the instances of a task
file through ``agentscale.evaluation.run_batch`` (``workers`` instances at a time; the rollouts of
one instance are bounded by the runner's ``max_concurrency`` and the sandbox pool):

- the chosen patch of each instance is appended to ``out`` in SWE-bench's own format
  (``instance_id``, ``model_name_or_path``, ``model_patch``), flushed as it is written; instances
  already in ``out`` are skipped, so a rerun resumes;
- the per-task report (``runs``: one JSON line per instance, ``TaskRecord`` with every rollout's
  patch, verdict and trajectory, the hidden-test score of the chosen patch, tokens and seconds)
  is the batch's results file;
- a bad instance line, a repository that cannot be found, or a base commit that does not exist is
  one clear error for that instance (``SWEBatchReport.errors``; the runs file holds an ``error``
  line, retried on a rerun), and the batch goes on.

Then ``agentscale swe eval PREDS --tasks TASKS`` scores ``out`` in fresh sandboxes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentscale.errors import AgentScaleError
from agentscale.graphs.swe.agent import swe_task
from agentscale.graphs.swe.instances import InstanceSet, Prediction, PredictionWriter, SWEInstance
from agentscale.graphs.swe.repos import RepoSource

__all__ = ["SWEBatchReport", "run_predictions"]


@dataclass
class SWEBatchReport:
    """How a predictions batch went.

    Attributes:
        written: instance ids whose prediction was written in this run.
        skipped: instance ids already in the predictions file (not redone).
        errors: ``(instance id or "line N", error)`` for every instance that could not be run.
        records: the per-task records of this run and earlier ones, in task-file order.
    """

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    records: list[Mapping[str, Any]] = field(default_factory=list)


def _error_record(instance: SWEInstance, message: str) -> dict[str, Any]:
    return {"kind": "run", "task_id": instance.instance_id, "workflow": "swe", "status": "error", "error": message}


async def run_predictions(
    instances: InstanceSet,
    runner: Any,
    *,
    out: str | Path,
    runs: str | Path,
    repos: RepoSource,
    model_name: str,
    workers: int = 1,
    on_event: Callable[[Any], None] | None = None,
) -> SWEBatchReport:
    """Scale every instance not yet in ``out`` and append its chosen patch (see the module docs).

    Args:
        instances: the task file's instances and bad lines (``load_instances``).
        runner: a ``ScaledRunner`` built from the ``swe`` workflow.
        out: the predictions file (JSONL; created or continued).
        runs: the per-task report (JSONL; created or continued).
        repos: where repositories come from (checked before a task starts: a missing one is an error
            without a rollout).
        model_name: ``model_name_or_path`` of each prediction.
        workers: instances run at once.
        on_event: told about each instance (``agentscale.evaluation.BatchEvent``).

    Raises:
        ConfigError: ``workers < 1`` or a runs file that is not one.
    """
    from agentscale.evaluation import run_batch

    report = SWEBatchReport()
    report.errors += [(e.instance_id or f"line {e.line}", e.error or "bad line") for e in instances.errors]
    done = PredictionWriter.done_ids(out)
    todo = []
    for iid, instance in instances.instances.items():
        (report.skipped if iid in done else todo).append(iid if iid in done else (iid, instance))

    with PredictionWriter(out) as writer:

        async def run_one(instance: SWEInstance) -> Any:
            try:  # a missing repository or commit: one clear error, no sandbox or model time spent
                await repos.archive(instance.repo, instance.base_commit)
            except AgentScaleError as exc:
                return _error_record(instance, str(exc))
            record = await runner.run(swe_task(instance))
            if record.status in ("chosen", "none_passed"):
                writer.write(Prediction(instance_id=instance.instance_id, model_name_or_path=model_name,
                                        model_patch=record.answer or ""))  # fmt: skip
                report.written.append(instance.instance_id)
            return record

        batch = await run_batch(todo, run_one, out=runs, workers=workers, on_event=on_event)
    for key, error in batch.failed:
        report.errors.append((key, error))
    for record in batch.records:
        if record.get("status") in ("error", "none_ran") and record.get("task_id") not in report.skipped:
            report.errors.append((str(record.get("task_id")), str(record.get("error") or record.get("reason"))))
    report.records = list(batch.records)
    return report
