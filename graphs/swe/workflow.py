"""The ``swe`` workflow: SWE-bench style tasks solved by the SWE agent, scaled with test-based selection.

``SWEWorkflow`` (registry group ``workflows``, name ``swe``) turns one SWE-bench instance (a JSON
object) into a task and builds, for a run:

- agent: ``SWEAgent`` (the loop with repository tools; its output is the checkout's diff);
- verifier: ``VisibleTests`` (patch applies and is non-empty, ``PASS_TO_PASS`` and the tests the
  statement names pass: see ``agentscale.graphs.swe.verify``), for best-of-N, reflection and
  evolution (``Evolve``: the next generation sees the best patches and their test feedback);
- scorer: ``HiddenTests`` (resolved by ``FAIL_TO_PASS`` and ``PASS_TO_PASS``), never used to select;
- selector: ``"best_score"`` (the highest visible-test score; the earliest on ties), or with
  ``selection="repro"`` and/or ``judge=true`` a ``PatchSelector`` (``agentscale.graphs.swe.select``):
  reproduction tests the model writes from the issue vote (CodeMonkeys-style), the visible tests
  break ties, then a judge sees the tied patches' diffs and trajectory summaries.

Options (``-c key=value``) are ``SWEOptions``' fields: the agent's (``SWEConfig``), where
repositories and dependencies are, and how patches are selected.

Example:
    ```python
    workflow = registry.create("workflows", "swe")
    env = WorkflowEnv(model=llm, sandboxes=pool, options={"repos_dir": "~/.cache/agentscale/swe/repos"})
    parts = workflow.build(env)
    graph = scale(parts.agent, "best_of_n", n=4, verifier=parts.verifier, selector=parts.selector)
    ```
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from agentscale.errors import ConfigError
from agentscale.graphs.swe.agent import SWEConfig, swe_agent, swe_task
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.instances import SWEInstance, _validation_message
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.verify import HiddenTests, VisibleTests
from agentscale.types import Task
from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = ["SWEOptions", "SWEWorkflow", "default_swe_cache"]


def default_swe_cache() -> Path:
    """``~/.cache/agentscale/swe``: where ``swe build-*`` put repositories by default (the CLI's
    ``agentscale swe run`` passes ``$AGENTSCALE_CACHE/swe`` instead when that is set)."""
    return Path.home() / ".cache" / "agentscale" / "swe"


class SWEOptions(SWEConfig):
    """The ``swe`` workflow's options: the agent's settings and where repositories are.

    Attributes:
        repos_dir: folder of ``owner__name`` repositories (``None``: ``default_swe_cache()/repos``).
        repos: ``{"owner/name": PATH_OR_URL}``, looked up before ``repos_dir``.
        deps_dir: the cache of ``python_deps`` (``None``: ``default_swe_cache()/deps``).
        test_timeout: wall seconds for one verification or scoring test run.
        named_tests: selection also runs the tests the problem statement names.
        selection: ``"visible"`` (the visible tests' score) or ``"repro"`` (reproduction tests
            written from the issue vote first; the visible tests break ties).
        repro_tests: with ``selection="repro"``, the test-writing calls per task (K).
        repro_timeout: wall seconds per reproduction test run.
        judge: the model judges patches still tied after test-based selection (diffs and
            trajectory summaries, never raw transcripts).
    """

    repos_dir: str | None = None
    repos: dict[str, str] = Field(default_factory=dict)
    deps_dir: str | None = None
    test_timeout: float = Field(default=300.0, gt=0)
    named_tests: bool = True
    selection: Literal["visible", "repro"] = "visible"
    repro_tests: int = Field(default=3, ge=1, le=16)
    repro_timeout: float = Field(default=60.0, gt=0)
    judge: bool = False

    def agent_config(self) -> SWEConfig:
        """The agent's part of the options."""
        return SWEConfig(**self.model_dump(include=set(SWEConfig.model_fields)))

    def sources(self) -> tuple[RepoSource, PythonDeps]:
        """Where repositories and dependencies come from."""
        cache = default_swe_cache()
        root = Path(self.repos_dir).expanduser() if self.repos_dir else cache / "repos"
        deps = Path(self.deps_dir).expanduser() if self.deps_dir else cache / "deps"
        return RepoSource(self.repos, root=root), PythonDeps(deps)


class SWEWorkflow:
    """The ``swe`` workflow (``agentscale.protocols.Workflow``): fix a repository so its tests pass.

    A task is one SWE-bench instance as a JSON object (``instance_id``, ``repo``, ``base_commit``,
    ``problem_statement``, ``FAIL_TO_PASS``, ...). The agent sees only the problem statement.
    """

    name = "swe"
    profile = "chat"
    needs_sandbox = True

    def task(self, source: str | Mapping[str, Any]) -> Task:
        """A ``Task`` from one instance (``swe_task``); its id is the ``instance_id``.

        Raises:
            ConfigError: not an object, or not a valid instance (which field, and why).
        """
        if not isinstance(source, Mapping):
            raise ConfigError("a swe task is a SWE-bench instance (a JSON object with instance_id, repo, ...)")
        try:
            instance = SWEInstance.model_validate(dict(source))
        except ValidationError as exc:
            raise ConfigError(f"not a SWE-bench instance: {_validation_message(exc)}") from exc
        return swe_task(instance)

    def build(self, env: WorkflowEnv) -> WorkflowParts:
        """The agent, ``VisibleTests``, ``HiddenTests`` and the selector (see the module docs).

        Raises:
            ConfigError: no sandboxes, or a bad option.
        """
        if env.sandboxes is None:
            raise ConfigError("the swe workflow runs code in sandboxes: give it WorkflowEnv(sandboxes=pool)")
        try:
            options = SWEOptions(**dict(env.options))
        except ValidationError as exc:
            raise ConfigError(f"bad swe options: {exc}") from exc
        repos, deps = options.sources()
        timeout = options.test_timeout
        return WorkflowParts(
            agent=swe_agent(env.model, repos, options.agent_config(), deps=deps),
            verifier=VisibleTests(env.sandboxes, repos, deps, timeout=timeout, named=options.named_tests),
            scorer=HiddenTests(env.sandboxes, repos, deps, timeout=timeout),
            selector=_selector(env, options, repos, deps),
        )


def _selector(env: WorkflowEnv, options: SWEOptions, repos: RepoSource, deps: PythonDeps) -> Any:
    if options.selection == "visible" and not options.judge:
        return "best_score"
    from agentscale.graphs.swe.select import repro_selector

    selector = repro_selector(env.model, env.sandboxes, repos, deps, judge=options.judge, timeout=options.repro_timeout,
                              tests=options.repro_tests if options.selection == "repro" else 0)  # fmt: skip
    selector.name = "swe_repro" if options.selection == "repro" else "swe_judge"
    return selector
