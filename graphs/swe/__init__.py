"""The SWE workflow: SWE-bench task files, repositories in sandboxes, generated tasks, scoring.

- ``instances``: ``SWEInstance`` / ``Prediction`` and SWE-bench's JSONL formats (read per line, written per instance);
- ``repos``: ``RepoSource``, where a repository comes from (local path, git URL, generated root);
- ``workspace``: ``prepare_repo``, a sandbox with the checkout at the base commit and a git baseline;
- ``testrun``: ``run_tests``, one outcome per pytest node id;
- ``evaluate``: ``SWEEvaluator`` / ``evaluate_files``, scoring like the SWE-bench harness;
- ``agent`` / ``tools``: ``SWEAgent`` (``swe_agent``), the agent loop with repository tools in the task's sandbox;
- ``verify`` / ``workflow``: ``VisibleTests`` (test-based selection), ``HiddenTests`` (scoring), the ``swe`` workflow;
- ``repro`` / ``select`` / ``summary``: reproduction tests written from the issue and voted on (``ReproWriter``,
  ``run_repro_tests``, ``repro_vote``), ``PatchSelector`` (votes, visible tests, a judge on ``swe_summary``s);
- ``generate``: tasks from PyPI sdists by injecting bugs their tests catch (``mutations``, ``statement``, ``pypi``).
"""

from agentscale.graphs.swe.agent import (
    SUBMIT_TOOL,
    SWE_INSTRUCTION,
    SWE_SYSTEM,
    SWEAgent,
    SWEConfig,
    instance_of,
    swe_agent,
    swe_task,
)
from agentscale.graphs.swe.deps import DependencyError, PythonDeps
from agentscale.graphs.swe.evaluate import EvalReport, InstanceResult, SWEEvaluator, evaluate_files, evaluate_patch
from agentscale.graphs.swe.generate import FIXTURE_PACKAGES, PackageSpec, generate_package, generate_tasks
from agentscale.graphs.swe.instances import (
    InstanceLine,
    InstanceSet,
    Prediction,
    PredictionLine,
    PredictionWriter,
    SWEInstance,
    load_instances,
    read_instances,
    read_predictions,
    to_task,
    write_instances,
)
from agentscale.graphs.swe.localize import issue_names, issue_tests, localize
from agentscale.graphs.swe.mutations import Mutation, find_mutations
from agentscale.graphs.swe.pypi import materialize_repos
from agentscale.graphs.swe.repos import CommitNotFound, RepoNotFound, RepoSource
from agentscale.graphs.swe.repro import (
    ReproRun,
    ReproTest,
    ReproVote,
    ReproWriter,
    WrittenTests,
    repro_vote,
    run_repro_tests,
)
from agentscale.graphs.swe.rewrite import RewriteTool, python_definition_action
from agentscale.graphs.swe.select import PatchSelector, repro_selector
from agentscale.graphs.swe.statement import write_statement
from agentscale.graphs.swe.summary import SWESummarizer, swe_summary
from agentscale.graphs.swe.testrun import TestResult, TestRun, run_tests
from agentscale.graphs.swe.tools import EditTool, ListFilesTool, RunTool, SearchTool, SubmitTool, ViewTool, swe_tools
from agentscale.graphs.swe.verify import HiddenTests, VisibleTests, named_tests
from agentscale.graphs.swe.workflow import SWEOptions, SWEWorkflow, default_swe_cache
from agentscale.graphs.swe.workspace import PreparedRepo, prepare_repo

__all__ = [
    "SUBMIT_TOOL",
    "SWE_INSTRUCTION",
    "SWE_SYSTEM",
    "EditTool",
    "RewriteTool",
    "issue_names",
    "issue_tests",
    "localize",
    "python_definition_action",
    "ListFilesTool",
    "RunTool",
    "SWEAgent",
    "SWEConfig",
    "SearchTool",
    "SubmitTool",
    "ViewTool",
    "instance_of",
    "swe_agent",
    "swe_task",
    "swe_tools",
    "HiddenTests",
    "VisibleTests",
    "named_tests",
    "PatchSelector",
    "ReproRun",
    "ReproTest",
    "ReproVote",
    "ReproWriter",
    "SWESummarizer",
    "WrittenTests",
    "repro_selector",
    "repro_vote",
    "run_repro_tests",
    "swe_summary",
    "SWEOptions",
    "SWEWorkflow",
    "default_swe_cache",
    "FIXTURE_PACKAGES",
    "CommitNotFound",
    "DependencyError",
    "EvalReport",
    "InstanceLine",
    "InstanceResult",
    "InstanceSet",
    "Mutation",
    "PackageSpec",
    "Prediction",
    "PredictionLine",
    "PredictionWriter",
    "PreparedRepo",
    "PythonDeps",
    "RepoNotFound",
    "RepoSource",
    "SWEEvaluator",
    "SWEInstance",
    "TestResult",
    "TestRun",
    "evaluate_files",
    "evaluate_patch",
    "find_mutations",
    "generate_package",
    "generate_tasks",
    "load_instances",
    "materialize_repos",
    "prepare_repo",
    "read_instances",
    "read_predictions",
    "run_tests",
    "to_task",
    "write_instances",
    "write_statement",
]
