"""Scoring predictions the way SWE-bench's harness does, in fresh sandboxes.

For each prediction: take a sandbox whose work dir, ``/tmp`` and processes were reset, check out
the instance's base commit, apply the model's patch with ``git apply`` (a patch that does not
apply is an *error* for that instance, not a crash), apply the instance's ``test_patch`` if any,
run the tests of ``FAIL_TO_PASS`` and ``PASS_TO_PASS``, and call it *resolved* iff every one of
them passes. An empty patch is not run at all (``empty_patch``). Every failure of one instance
(repository not found, base commit missing, sandbox trouble, tests timing out) is an ``error``
entry in the report; the batch goes on, and ``evaluate_files`` rewrites the report after each
instance so nothing finished is lost.

The report keeps the harness's keys (``resolved_ids``, ``error_ids``, ``tests_status`` with
``FAIL_TO_PASS`` / ``PASS_TO_PASS`` ``success`` and ``failure`` lists...), plus the bad input lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentscale.errors import AgentScaleError, ConfigError, SandboxError, SandboxUnavailable
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.instances import Prediction, SWEInstance, load_instances, read_predictions
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.testrun import files_of_tests, run_tests
from agentscale.graphs.swe.workspace import SWE_DIR, RepoSandbox, prepare_repo

__all__ = ["EvalReport", "InstanceResult", "SWEEvaluator", "evaluate_files", "evaluate_patch"]

Status = Literal["resolved", "unresolved", "error", "empty_patch"]
_APPLY = (
    ["git", "apply", "--verbose", "--whitespace=nowarn"],
    # what models often get wrong: hunk line counts, trailing whitespace, a missing final newline
    ["git", "apply", "--verbose", "--whitespace=nowarn", "--recount", "--ignore-whitespace", "--inaccurate-eof"],
)


class InstanceResult(BaseModel):
    """One instance's score, with the harness's per-instance fields.

    Attributes:
        status: ``resolved``, ``unresolved``, ``error`` (could not be scored) or ``empty_patch``.
        tests_status: ``{"FAIL_TO_PASS": {"success": [...], "failure": [...]}, "PASS_TO_PASS": ...}``
            (also ``FAIL_TO_FAIL`` and ``PASS_TO_FAIL``, empty, as the harness writes them).
        error: why an ``error`` could not be scored.
        test_output: the tail of pytest's console output.
    """

    instance_id: str
    model_name_or_path: str = ""
    status: Status
    patch_is_None: bool = False
    patch_exists: bool = False
    patch_successfully_applied: bool = False
    resolved: bool = False
    tests_status: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    error: str | None = None
    test_output: str = ""
    seconds: float = 0.0


def _error(instance_id: str, model: str, message: str, **fields: Any) -> InstanceResult:
    return InstanceResult(instance_id=instance_id, model_name_or_path=model, status="error", error=message, **fields)


def _empty(instance_id: str, model: str, patch: str | None) -> InstanceResult:
    return InstanceResult(
        instance_id=instance_id, model_name_or_path=model, status="empty_patch", patch_is_None=patch is None
    )


async def _apply(sandbox: RepoSandbox, patch: str, name: str) -> tuple[bool, str]:
    path = f"{SWE_DIR}/{name}"
    first = ""
    for i, argv in enumerate(_APPLY):
        files = {path: patch} if i == 0 else None
        result = await sandbox.run([*argv, path], files=files, timeout=120)
        if result.ok:
            return True, ""
        first = first or (result.stderr or result.stdout).strip()  # the strict try says best what is wrong
    return False, first[-2000:]


async def evaluate_patch(
    sandbox: RepoSandbox,
    instance: SWEInstance,
    patch: str | None,
    repos: RepoSource,
    *,
    deps: PythonDeps | None = None,
    model: str = "",
    timeout: float = 900,
) -> InstanceResult:
    """Score one patch for one instance in ``sandbox`` (which must be fresh: an empty work dir).

    Args:
        sandbox: the sandbox to use.
        instance: the task.
        patch: the model's patch (``git diff`` form); ``None`` or blank is an empty patch.
        repos: where the repository comes from.
        deps: where ``python_deps`` come from.
        model: ``model_name_or_path``, copied into the result.
        timeout: wall seconds for the test run.

    Returns:
        The result. Failures of the instance (not found, patch does not apply, tests timed out) are
        ``status="error"`` results, never exceptions.

    Raises:
        SandboxError: the sandbox itself failed (no fault of the instance: worth another sandbox).
    """
    iid = instance.instance_id
    start = time.monotonic()
    if patch is None or not patch.strip():
        return _empty(iid, model, patch)
    try:
        prepared = await prepare_repo(sandbox, instance, repos, deps)
        applied, why = await _apply(sandbox, patch, "model.patch")
        if not applied:
            return _error(iid, model, f"patch does not apply: {why}", patch_exists=True)
        if instance.test_patch.strip():
            ok, why = await _apply(sandbox, instance.test_patch, "test.patch")
            if not ok:
                return _error(iid, model, f"test_patch does not apply: {why}", patch_exists=True,
                              patch_successfully_applied=True)  # fmt: skip
        tests = [*instance.FAIL_TO_PASS, *instance.PASS_TO_PASS]
        run = await run_tests(sandbox, prepared, files_of_tests(tests), timeout=timeout)
    except (asyncio.CancelledError, SandboxError):
        raise
    except AgentScaleError as exc:
        return _error(iid, model, str(exc), patch_exists=True)
    except Exception as exc:  # one instance's surprise must not end the batch
        return _error(iid, model, f"{type(exc).__name__}: {exc}", patch_exists=True)
    f2p_ok, f2p_bad = run.split(instance.FAIL_TO_PASS)
    p2p_ok, p2p_bad = run.split(instance.PASS_TO_PASS)
    status = {
        "FAIL_TO_PASS": {"success": f2p_ok, "failure": f2p_bad},
        "PASS_TO_PASS": {"success": p2p_ok, "failure": p2p_bad},
        "FAIL_TO_FAIL": {"success": [], "failure": []},
        "PASS_TO_FAIL": {"success": [], "failure": []},
    }
    common = {
        "instance_id": iid,
        "model_name_or_path": model,
        "patch_exists": True,
        "patch_successfully_applied": True,
        "tests_status": status,
        "test_output": run.output[-2000:],
        "seconds": round(time.monotonic() - start, 2),
    }
    if run.timed_out:
        return InstanceResult(status="error", error=f"the tests timed out after {timeout:g} s", **common)
    resolved = not f2p_bad and not p2p_bad
    return InstanceResult(status="resolved" if resolved else "unresolved", resolved=resolved, **common)


class SWEEvaluator:
    """Scores predictions concurrently, each in its own fresh sandbox.

    Use it as an async context manager (it opens and closes its sandbox pools).

    Example:
        >>> repos, deps = RepoSource(root=repos_dir), PythonDeps(deps_dir)  # doctest: +SKIP
        >>> async with SWEEvaluator(repos, deps=deps, workers=2) as ev:  # doctest: +SKIP
        ...     results = await ev.evaluate(predictions, instances)

    Args:
        repos: where repositories come from.
        deps: where ``python_deps`` come from.
        backend: sandbox backend (``auto``, ``docker``, ``bwrap``).
        workers: instances scored at once (and sandboxes per pool).
        image: the evaluation image: a Docker image tag (``docker``) or a root filesystem folder
            (``bwrap``), or a function of the instance giving one (``None``: the default image).
            One pool is opened per distinct image.
        limits: sandbox limits (default: 1 GiB memory, 512 MiB work dir).
        timeout: wall seconds for one instance's test run.
        pool: score in this already-open pool instead (then ``backend``, ``image`` and ``limits`` are unused).
    """

    def __init__(
        self,
        repos: RepoSource,
        *,
        deps: PythonDeps | None = None,
        backend: str = "auto",
        workers: int = 2,
        image: str | Callable[[SWEInstance], str | None] | None = None,
        limits: Any = None,
        timeout: float = 900,
        pool: Any = None,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if image is not None and backend not in ("docker", "bwrap") and pool is None:
            raise ConfigError("an evaluation image needs backend='docker' (an image tag) or 'bwrap' (a rootfs folder)")
        self.repos = repos
        self.deps = deps
        self.backend = backend
        self.workers = workers
        self.image = image
        self.limits = limits
        self.timeout = timeout
        self._given_pool = pool
        self._pools: dict[str | None, Any] = {}
        self._pool_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(workers)

    async def start(self) -> None:
        """Open the sandbox pool now (for a fixed image), so a host that cannot run one fails up front.

        Raises:
            SandboxUnavailable: the backend cannot run here.
        """
        if self._given_pool is None and not callable(self.image):
            await self._pool(self.image)

    async def __aenter__(self) -> SWEEvaluator:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pools this evaluator opened."""
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.aclose() for p in pools), return_exceptions=True)

    def _image_of(self, instance: SWEInstance) -> str | None:
        return self.image(instance) if callable(self.image) else self.image

    async def _pool(self, image: str | None):
        if self._given_pool is not None:
            return self._given_pool
        async with self._pool_lock:
            if image not in self._pools:
                from agentscale.sandboxes import SandboxLimits, open_pool

                limits = self.limits or SandboxLimits(memory_mb=1024, workdir_mb=512, timeout=self.timeout)
                options = {} if image is None else {"image" if self.backend == "docker" else "rootfs": image}
                pool = open_pool(self.backend, size=self.workers, limits=limits, **options)
                await pool.start()
                self._pools[image] = pool
            return self._pools[image]

    @contextlib.asynccontextmanager
    async def lease(self, instance: SWEInstance) -> AsyncIterator[RepoSandbox]:
        """A fresh sandbox of the instance's evaluation image, for an ``async with`` block."""
        pool = await self._pool(self._image_of(instance))
        async with pool.lease() as sandbox:
            yield sandbox

    async def score(self, instance: SWEInstance, prediction: Prediction) -> InstanceResult:
        """Score one prediction (waits for a free worker). Never raises for the instance's own failures."""
        model = prediction.model_name_or_path
        patch = prediction.model_patch
        if patch is None or not patch.strip():
            return _empty(instance.instance_id, model, patch)
        start = time.monotonic()
        try:
            async with self._slots:
                # Find the checkout before taking a sandbox: a missing repository costs no sandbox time.
                await self.repos.archive(instance.repo, instance.base_commit)
                for attempt in range(2):
                    try:
                        async with self.lease(instance) as sandbox:
                            result = await evaluate_patch(sandbox, instance, patch, self.repos, deps=self.deps,
                                                          model=model, timeout=self.timeout)  # fmt: skip
                        break
                    except SandboxError as exc:
                        # the sandbox failed, not the patch: once more in another one, then it is an error
                        if attempt or isinstance(exc, SandboxUnavailable):
                            raise
        except (asyncio.CancelledError, SandboxUnavailable):
            raise  # no sandbox can run here: that ends the batch, it is no instance's fault
        except AgentScaleError as exc:
            result = _error(instance.instance_id, model, str(exc), patch_exists=True)
        except Exception as exc:
            result = _error(instance.instance_id, model, f"{type(exc).__name__}: {exc}", patch_exists=True)
        return result.model_copy(update={"seconds": round(time.monotonic() - start, 2)})

    async def evaluate(
        self,
        predictions: Iterable[Prediction],
        instances: Mapping[str, SWEInstance],
        *,
        on_result: Callable[[InstanceResult], None] | None = None,
    ) -> list[InstanceResult]:
        """Score every prediction whose instance is known, ``workers`` at a time.

        Args:
            predictions: what to score (a prediction for an unknown instance becomes an error result).
            instances: the tasks by id.
            on_result: called with each result as it finishes (e.g. to save it).

        Returns:
            The results, in the order they finished.
        """
        done: list[InstanceResult] = []

        async def one(pred: Prediction) -> None:
            instance = instances.get(pred.instance_id)
            if instance is None:
                result = _error(pred.instance_id, pred.model_name_or_path, "no such instance in the task file")
            else:
                result = await self.score(instance, pred)
            done.append(result)
            if on_result is not None:
                on_result(result)

        async with asyncio.TaskGroup() as group:
            for pred in predictions:
                group.create_task(one(pred), name=f"swe-eval-{pred.instance_id}")
        return done


class EvalReport(BaseModel):
    """A run's report, with the keys of SWE-bench's harness report and every instance's result."""

    total_instances: int = 0
    submitted_instances: int = 0
    completed_instances: int = 0
    resolved_instances: int = 0
    unresolved_instances: int = 0
    empty_patch_instances: int = 0
    error_instances: int = 0
    completed_ids: list[str] = Field(default_factory=list)
    incomplete_ids: list[str] = Field(default_factory=list)
    empty_patch_ids: list[str] = Field(default_factory=list)
    submitted_ids: list[str] = Field(default_factory=list)
    resolved_ids: list[str] = Field(default_factory=list)
    unresolved_ids: list[str] = Field(default_factory=list)
    error_ids: list[str] = Field(default_factory=list)
    input_errors: list[dict[str, Any]] = Field(default_factory=list)
    """Lines of the task or predictions file that could not be read: ``{"file", "line", "instance_id", "error"}``."""
    instances: dict[str, InstanceResult] = Field(default_factory=dict)
    schema_version: int = 2

    @classmethod
    def build(
        cls,
        all_ids: Iterable[str],
        submitted: Iterable[str],
        results: Iterable[InstanceResult],
        input_errors: Iterable[dict[str, Any]] = (),
    ) -> EvalReport:
        """Tally results (the later of two results for one id wins)."""
        by_id = {r.instance_id: r for r in results}
        ids = sorted(set(all_ids) | set(by_id))
        submitted_ids = sorted(set(submitted))
        pick = lambda status: sorted(i for i, r in by_id.items() if r.status == status)  # noqa: E731
        completed = sorted(i for i, r in by_id.items() if r.status in ("resolved", "unresolved"))
        return cls(
            total_instances=len(ids),
            submitted_instances=len(submitted_ids),
            completed_instances=len(completed),
            resolved_instances=len(pick("resolved")),
            unresolved_instances=len(pick("unresolved")),
            empty_patch_instances=len(pick("empty_patch")),
            error_instances=len(pick("error")),
            completed_ids=completed,
            incomplete_ids=sorted(set(ids) - set(by_id)),
            empty_patch_ids=pick("empty_patch"),
            submitted_ids=submitted_ids,
            resolved_ids=pick("resolved"),
            unresolved_ids=pick("unresolved"),
            error_ids=pick("error"),
            input_errors=list(input_errors),
            instances={i: by_id[i] for i in sorted(by_id)},
        )

    def write(self, path: str | Path) -> None:
        """Write the report as JSON, atomically (a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


async def evaluate_files(
    predictions_path: str | Path,
    tasks_path: str | Path,
    evaluator: SWEEvaluator,
    *,
    out: str | Path | None = None,
    on_result: Callable[[InstanceResult], None] | None = None,
) -> EvalReport:
    """Score a predictions file against a task file; write the report as each instance finishes.

    Bad lines in either file become ``input_errors``. A prediction whose task line is malformed is
    an ``error`` result saying which line and why; a prediction for an id not in the task file is
    an input error. For one id given twice, the last prediction counts.

    Args:
        predictions_path: SWE-bench predictions (JSONL or a JSON array).
        tasks_path: the instances (JSONL or a JSON array).
        evaluator: what scores them.
        out: where to write the report (rewritten after every instance); ``None``: not written.
        on_result: called with each result as it finishes.

    Raises:
        ConfigError: a file cannot be read at all.
    """
    tasks = load_instances(tasks_path)
    input_errors: list[dict[str, Any]] = [
        {"file": str(tasks_path), "line": e.line, "instance_id": e.instance_id, "error": e.error} for e in tasks.errors
    ]
    bad_task_lines = {e.instance_id: e for e in tasks.errors if e.instance_id and e.instance_id not in tasks.instances}
    predictions: dict[str, Prediction] = {}
    for item in read_predictions(predictions_path):
        if item.prediction is None:
            input_errors.append(
                {"file": str(predictions_path), "line": item.line, "instance_id": item.instance_id, "error": item.error}
            )
        else:
            predictions[item.prediction.instance_id] = item.prediction

    results: list[InstanceResult] = []
    for iid in sorted(set(predictions) - set(tasks.instances)):
        bad = bad_task_lines.get(iid)
        if bad is not None:
            results.append(_error(iid, predictions[iid].model_name_or_path,
                                  f"its task (line {bad.line} of {tasks_path}) is malformed: {bad.error}"))  # fmt: skip
        else:
            input_errors.append({"file": str(predictions_path), "line": None, "instance_id": iid,
                                 "error": "no such instance in the task file"})  # fmt: skip
    all_ids = [*tasks.instances, *bad_task_lines]

    submitted = [iid for iid in predictions if iid in tasks.instances or iid in bad_task_lines]

    def report() -> EvalReport:
        return EvalReport.build(all_ids, submitted, results, input_errors)

    if out is not None:
        report().write(out)

    def finished(result: InstanceResult) -> None:
        results.append(result)
        if out is not None:
            report().write(out)
        if on_result is not None:
            on_result(result)

    known = [p for iid, p in predictions.items() if iid in tasks.instances]
    await evaluator.evaluate(known, tasks.instances, on_result=finished)
    final = report()
    if out is not None:
        final.write(out)
    return final
