"""SWE-style tasks from real PyPI packages: inject a bug the package's own tests catch.

For each package (an sdist that ships its tests, pinned by version and sha256):

1. download it with pip and make it a git repository, one deterministic commit (``pypi.py``);
2. check its test suite passes in a sandbox (the tests that pass there are the ones that count);
3. try candidate bugs in the package's functions (``mutations.py``), in a seeded order that
   alternates kinds of bug, and keep a bug when at least one test catches it, no file fails to
   collect, it does not hang, and it breaks at most ``max_fail_fraction`` of the suite;
4. commit the bug as the task's base commit; the tests it breaks are ``FAIL_TO_PASS``, the rest
   ``PASS_TO_PASS``; the gold ``patch`` is the reverse of the bug;
5. write the problem statement from what the failing tests show (``statement.py``);
6. score the gold patch with the evaluator in a fresh sandbox, and keep the task only if it is
   resolved.

The same packages, counts and seed give the same tasks, commits and statements on any machine
(what runs in the sandbox is deterministic, and tests run with ``PYTHONHASHSEED=0``).
Dependencies a package's tests import (text-unidecode for python-slugify) are pure-Python wheels
vendored onto ``PYTHONPATH`` (``deps.py``). Rebuild the committed fixture set with::

    python -m agentscale.graphs.swe.generate --out tests/fixtures/swe/tasks.jsonl
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from agentscale.errors import AgentScaleError, ConfigError, SandboxError
from agentscale.graphs.swe._git import git
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.evaluate import evaluate_patch
from agentscale.graphs.swe.instances import SWEInstance, write_instances
from agentscale.graphs.swe.mutations import Mutation, find_mutations
from agentscale.graphs.swe.pypi import (
    build_clean_repo,
    commit_change,
    fetch_sdist,
    file_sha256,
    gold_patch,
    repo_dir,
    repo_name,
)
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.statement import write_statement
from agentscale.graphs.swe.testrun import TestResult, TestRun, run_tests
from agentscale.graphs.swe.workspace import prepare_repo

__all__ = ["FIXTURE_PACKAGES", "PackageSpec", "generate_package", "generate_tasks", "main"]

Progress = Callable[[str], None]
_DESCRIPTION = "Build SWE-style tasks from PyPI packages by injecting bugs their own tests catch."


@dataclass(frozen=True)
class PackageSpec:
    """A package to make tasks from.

    Attributes:
        name: the PyPI name.
        version: the exact version (its sdist must include the tests).
        sha256: the sdist's sha256, checked when given (pin it for a reproducible set).
        count: how many tasks to make.
        tests: test files or folders to run (empty: pytest's discovery, else every ``test*.py``).
        deps: pinned pure-Python packages the tests import (``name==version``).
        pythonpath: repository folders to import from (``src`` for a src layout).
        max_per_function: most tasks whose bug is in one function.
    """

    name: str
    version: str
    sha256: str | None = None
    count: int = 10
    tests: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()
    pythonpath: tuple[str, ...] = ()
    max_per_function: int = 1

    @classmethod
    def parse(cls, text: str) -> PackageSpec:
        """From ``NAME==VERSION[;count=N][;tests=a,b][;deps=x==1,y==2][;pythonpath=src][;sha256=H][;per_function=N]``.

        Example:
            >>> PackageSpec.parse("python-slugify==5.0.2;deps=text-unidecode==1.3;tests=test.py;count=4").deps
            ('text-unidecode==1.3',)

        Raises:
            ConfigError: the text is not of that form.
        """
        head, *options = [p.strip() for p in text.split(";")]
        name, sep, version = head.partition("==")
        if not sep or not name or not version:
            raise ConfigError(f"package spec {text!r}: expected NAME==VERSION[;key=value...]")
        spec = cls(name.strip(), version.strip())
        lists = {"tests": "tests", "deps": "deps", "pythonpath": "pythonpath"}
        for option in options:
            key, sep, value = option.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"package spec {text!r}: option {option!r} is not key=value")
            if key in lists:
                spec = replace(spec, **{lists[key]: tuple(v.strip() for v in value.split(",") if v.strip())})
            elif key in ("count", "per_function"):
                try:
                    number = int(value)
                except ValueError:
                    raise ConfigError(f"package spec {text!r}: {key} must be a whole number") from None
                spec = replace(spec, **{"count" if key == "count" else "max_per_function": number})
            elif key == "sha256":
                spec = replace(spec, sha256=value.strip())
            else:
                raise ConfigError(
                    f"package spec {text!r}: unknown option {key!r} "
                    "(count, tests, deps, pythonpath, sha256, per_function)"
                )
        return spec


FIXTURE_PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec("toolz", "1.0.0", "2c86e3d9a04798ac556793bced838816296a2f085017664e4995cb40a1047a02", count=10),
    PackageSpec("inflection", "0.5.1", "1a29730d366e996aaacffb2f1f1cb9593dc38e2ddd30c91250c6dde09ea9b417", count=8,
                max_per_function=2),
    PackageSpec("python-slugify", "5.0.2", "f13383a0b9fcbe649a1892b9c8eb4f8eab1d6d84b84bb7a624317afa98159cab",
                count=5, tests=("test.py",), deps=("text-unidecode==1.3",), max_per_function=3),
    PackageSpec("more-itertools", "10.5.0", "5482bfef7849c25dc3c6dd53a6173ae4795da2a41a80faea6700d9f5846c5da6",
                count=10),
)  # fmt: skip
"""The packages of the committed fixture set (``tests/fixtures/swe/tasks.jsonl``)."""

_SKIP_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "benchmarks", "bench", "build", "scripts"}
_SKIP_FILES = {"setup.py", "conftest.py", "versioneer.py", "_version.py", "__main__.py", "noxfile.py", "fabfile.py"}


def _is_test_file(path: str) -> bool:
    p = PurePosixPath(path)
    return p.name.startswith("test") or p.name.endswith("_test.py") or any(d in ("tests", "test") for d in p.parts[:-1])


def _source_files(paths: Sequence[str]) -> list[str]:
    """The package's own modules: where bugs may go (not tests, docs, setup or generated files)."""
    keep = []
    for path in paths:
        p = PurePosixPath(path)
        if p.suffix != ".py" or _is_test_file(path) or p.name in _SKIP_FILES:
            continue
        if any(part in _SKIP_DIRS or part.startswith(".") for part in p.parts[:-1]):
            continue
        keep.append(path)
    return sorted(keep)


def _ordered(mutations: list[Mutation], seed: str) -> list[Mutation]:
    """Candidates in a seeded order that alternates kinds of bug (so constants, the most numerous, do not crowd)."""
    by_kind: dict[str, list[Mutation]] = {}
    for m in mutations:
        by_kind.setdefault(m.kind, []).append(m)
    for kind, group in by_kind.items():
        group.sort(key=lambda m: (m.path, m.start, m.end, m.replacement))
        random.Random(f"{seed}:{kind}").shuffle(group)
    order: list[Mutation] = []
    kinds = sorted(by_kind)
    random.Random(f"{seed}:kinds").shuffle(kinds)
    for i in range(max((len(g) for g in by_kind.values()), default=0)):
        order += [by_kind[k][i] for k in kinds if i < len(by_kind[k])]
    return order


@dataclass
class _Outcome:
    kept: bool
    why: str
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    failures: list[TestResult] = field(default_factory=list)


def _judge(run: TestRun, passing: list[str], max_fail_fraction: float) -> _Outcome:
    if run.timed_out:
        return _Outcome(False, "the tests hang")
    if run.collect_errors:
        return _Outcome(False, "a test file no longer imports")
    f2p = [n for n in passing if not run.passed(n)]
    if not f2p:
        return _Outcome(False, "no test catches it")
    if len(f2p) > max_fail_fraction * len(passing):
        return _Outcome(False, f"{len(f2p)} of {len(passing)} tests fail: too broad")
    failures = [run.results.get(n) or TestResult(n, "missing") for n in f2p]
    return _Outcome(True, f"{len(f2p)} tests catch it", f2p, [n for n in passing if run.passed(n)], failures)


class _Bench:
    """One sandbox holding the clean checkout, where candidate bugs are tried one after another.

    A sandbox that fails (not the code in it: the sandbox) is replaced by a fresh one and the try
    is made once more, so one hiccup of the backend does not end a long generation run.
    """

    def __init__(self, pool, base: SWEInstance, repos: RepoSource, deps: PythonDeps) -> None:
        self.pool, self.base, self.repos, self.deps = pool, base, repos, deps
        self._stack: contextlib.AsyncExitStack | None = None
        self.sandbox = None
        self.prepared = None

    async def _open(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self.sandbox = await self._stack.enter_async_context(self.pool.lease())
        self.prepared = await prepare_repo(self.sandbox, self.base, self.repos, self.deps)

    async def __aenter__(self) -> _Bench:
        await self._open()
        return self

    async def __aexit__(self, *exc) -> None:
        if self._stack is not None:
            await self._stack.aclose()

    async def _twice(self, job):
        try:
            return await job()
        except SandboxError:
            await self.__aexit__(None, None, None)
            await self._open()
            return await job()

    async def discover(self, spec: PackageSpec, files: Sequence[str]) -> tuple[list[str], TestRun]:
        """The test paths to run (empty: pytest's discovery) and the clean suite's outcomes."""
        if spec.tests:
            return list(spec.tests), await self._twice(lambda: self._tests(spec.tests, 600))
        run = await self._twice(lambda: self._tests((), 600))
        if run.results:
            return [], run
        # pytest's default patterns miss files like test.py: run every test*.py explicitly
        paths = sorted(f for f in files if f.endswith(".py") and PurePosixPath(f).name.startswith("test"))
        if not paths:
            raise ConfigError(f"{spec.name} {spec.version}: no tests found in the sdist")
        return paths, await self._twice(lambda: self._tests(paths, 600))

    async def _tests(self, paths: Sequence[str], timeout: float) -> TestRun:
        return await run_tests(self.sandbox, self.prepared, paths, timeout=timeout)

    async def run_mutant(self, files: dict[str, str], paths: Sequence[str], timeout: float) -> TestRun:
        """The suite's outcomes with ``files`` replaced; the checkout is clean again afterwards."""

        async def job() -> TestRun:
            await self.sandbox.run(["true"], files=files, timeout=60)
            try:
                return await self._tests(paths, timeout)
            finally:
                await self.sandbox.run("git checkout -q -- . && git clean -fdq", timeout=60)

        return await self._twice(job)


async def generate_package(
    spec: PackageSpec,
    pool,
    *,
    repos_root: Path,
    cache_dir: Path,
    seed: int = 0,
    max_tries: int | None = None,
    max_fail_fraction: float = 0.5,
    progress: Progress | None = None,
) -> list[SWEInstance]:
    """Make up to ``spec.count`` tasks from one package.

    Args:
        spec: the package.
        pool: an open sandbox pool (``agentscale.sandboxes.open_pool``) with at least 2 sandboxes.
        repos_root: where the package's repository is kept (``pypi__NAME``).
        cache_dir: where sdists (``sdists/``) and vendored deps (``deps/``) are cached.
        seed: picks the order candidates are tried in.
        max_tries: most candidates to test (default ``12 * count``).
        max_fail_fraction: a bug that breaks more of the suite than this is too broad to keep.
        progress: called with one line per step.

    Returns:
        The tasks, in the order they were found (so a smaller ``count`` gives a prefix of them).

    Raises:
        ConfigError: the sdist cannot be had, or its suite does not pass in the sandbox.
    """
    say = progress or (lambda _msg: None)
    label = f"{spec.name} {spec.version}"
    sdist = await asyncio.to_thread(fetch_sdist, spec.name, spec.version, cache_dir / "sdists", sha256=spec.sha256)
    repo = repo_dir(repos_root, spec.name)
    clean = await asyncio.to_thread(build_clean_repo, sdist, repo, package=spec.name, version=spec.version)
    say(f"{label}: {sdist.name} -> commit {clean[:12]}")
    files = git("ls-tree", "-r", "--name-only", clean, cwd=repo).splitlines()
    sources = {f: git("cat-file", "blob", f"{clean}:{f}", cwd=repo) for f in _source_files(files)}
    sources = {f: text for f, text in sources.items() if "\ufffd" not in text}  # not UTF-8: leave it alone
    candidates = _ordered(
        [m for f, text in sources.items() for m in find_mutations(f, text)], f"{seed}:{spec.name}:{spec.version}"
    )
    base = SWEInstance.model_construct(
        instance_id=f"{spec.name}-clean", repo=repo_name(spec.name), base_commit=clean, problem_statement="",
        FAIL_TO_PASS=[], PASS_TO_PASS=[], test_patch="", patch="", version=spec.version,
        python_deps=list(spec.deps), pythonpath=list(spec.pythonpath),
    )  # fmt: skip
    repos = RepoSource(root=repos_root)
    deps = PythonDeps(cache_dir / "deps")
    made: list[SWEInstance] = []
    async with _Bench(pool, base, repos, deps) as bench:
        test_paths, clean_run = await bench.discover(spec, files)
        passing = sorted(n for n, r in clean_run.results.items() if r.passed)
        if clean_run.collect_errors or not passing or clean_run.timed_out:
            raise ConfigError(
                f"{label}: the test suite does not pass as published ({len(passing)} passing, "
                f"{len(clean_run.collect_errors)} files not collected): {clean_run.output[-600:]}"
            )
        budget = max(30.0, 5 * clean_run.duration + 10)
        say(f"{label}: {len(passing)} tests pass in {clean_run.duration:.1f} s; {len(candidates)} candidate bugs")
        per_function: dict[tuple[str, str], int] = {}
        lines: set[tuple[str, int]] = set()
        tries = 0
        for m in candidates:
            if len(made) >= spec.count or tries >= (max_tries or 12 * spec.count):
                break
            if per_function.get((m.path, m.function), 0) >= spec.max_per_function or (m.path, m.line) in lines:
                continue
            tries += 1
            where = f"{m.path}:{m.line} {m.function} {m.kind}"
            # a sandbox that fails twice ends the run: skipping the candidate would change the task set
            run = await bench.run_mutant({m.path: m.apply(sources[m.path])}, test_paths, budget)
            outcome = _judge(run, passing, max_fail_fraction)
            if not outcome.kept:
                say(f"{label}: try {tries}: {where}: dropped ({outcome.why})")
                continue
            instance = await _make_instance(spec, m, sources, outcome, repo, clean, sdist, len(made) + 1)
            result = await _validate(pool, instance, repos, deps)
            if result is not None:
                say(f"{label}: try {tries}: {where}: dropped (gold patch: {result})")
                continue
            per_function[(m.path, m.function)] = per_function.get((m.path, m.function), 0) + 1
            lines.add((m.path, m.line))
            made.append(instance)
            say(f"{label}: try {tries}: {where}: kept as {instance.instance_id} ({outcome.why})")
    if len(made) < spec.count:
        say(f"{label}: only {len(made)} of {spec.count} tasks after {tries} tries")
    return made


def _defined_names(sources: dict[str, str]) -> frozenset[str]:
    """Public functions, classes and methods the package defines: the calls a statement may blame."""
    names = set()
    for text in sources.values():
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):  # aliases: `nth = curry(_nth)`, `flatten = chain.from_iterable`
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(n for n in names if not n.startswith("_"))


async def _make_instance(
    spec: PackageSpec,
    m: Mutation,
    sources: dict[str, str],
    outcome: _Outcome,
    repo: Path,
    clean: str,
    sdist: Path,
    number: int,
) -> SWEInstance:
    instance_id = f"{repo_name(spec.name).replace('/', '__')}-{spec.version}-{number:02d}"
    mutated = m.apply(sources[m.path]).encode()
    base = await asyncio.to_thread(commit_change, repo, clean, {m.path: mutated}, instance_id)
    await asyncio.to_thread(git, "update-ref", f"refs/tags/swe/{instance_id}", base, cwd=repo)
    patch = await asyncio.to_thread(gold_patch, repo, base, clean)
    return SWEInstance(
        instance_id=instance_id,
        repo=repo_name(spec.name),
        base_commit=base,
        problem_statement=write_statement(spec.name, spec.version, outcome.failures, api=_defined_names(sources)),
        FAIL_TO_PASS=outcome.fail_to_pass,
        PASS_TO_PASS=outcome.pass_to_pass,
        patch=patch,
        version=spec.version,
        python_deps=list(spec.deps),
        pythonpath=list(spec.pythonpath),
        created_by="agentscale.graphs.swe.generate",
        pypi={
            "name": spec.name,
            "version": spec.version,
            "filename": sdist.name,
            "sha256": file_sha256(sdist),
            "clean_commit": clean,
        },  # fmt: skip
        mutation={
            "path": m.path,
            "function": m.function,
            "line": m.line,
            "kind": m.kind,
            "description": m.description,
        },  # fmt: skip
    )


async def _validate(pool, instance: SWEInstance, repos: RepoSource, deps: PythonDeps) -> str | None:
    """``None`` when the gold patch resolves the task in a fresh sandbox, else what went wrong."""
    for attempt in range(2):
        try:
            async with pool.lease() as sandbox:
                result = await evaluate_patch(sandbox, instance, instance.patch, repos, deps=deps)
            break
        except SandboxError:
            if attempt:
                raise
    if result.status == "resolved":
        return None
    return result.error or f"{result.status}: {result.tests_status}"


async def generate_tasks(
    specs: Sequence[PackageSpec],
    *,
    out: str | Path,
    repos_root: str | Path,
    cache_dir: str | Path,
    backend: str = "auto",
    seed: int = 0,
    progress: Progress | None = None,
) -> list[SWEInstance]:
    """Make tasks from several packages and write them to ``out`` (JSONL, replaced after each package,
    so a run that fails later keeps the packages it finished).

    Args:
        specs: the packages.
        out: the task file to write.
        repos_root: where the repositories go (``RepoSource(root=repos_root)`` finds them).
        cache_dir: where sdists and deps are cached.
        backend: the sandbox backend the tests run in.
        seed: picks the order candidates are tried in.
        progress: called with one line per step.

    Returns:
        Every task made, in file order.
    """
    from agentscale.sandboxes import SandboxLimits, open_pool

    repos_root, cache_dir, out = Path(repos_root).expanduser(), Path(cache_dir).expanduser(), Path(out)
    limits = SandboxLimits(memory_mb=1024, workdir_mb=512, timeout=600)
    made: list[SWEInstance] = []
    async with open_pool(backend, size=2, limits=limits) as pool:
        for spec in specs:
            made += await generate_package(
                spec, pool, repos_root=repos_root, cache_dir=cache_dir, seed=seed, progress=progress
            )
            write_instances(out, made)
    if not specs:
        write_instances(out, made)
    return made


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator's options (shared by ``python -m`` and ``agentscale swe build-tasks``)."""
    parser.add_argument("--out", type=Path, default=Path("tasks.jsonl"), help="task file to write (JSONL)")
    parser.add_argument(
        "--package",
        action="append",
        metavar="SPEC",
        help="NAME==VERSION[;count=N][;tests=a,b][;deps=x==1][;pythonpath=src][;sha256=H][;per_function=N] "
        "(repeatable; default: the fixture set's packages)",
    )
    parser.add_argument("--count", type=int, help="tasks per package (overrides each spec's count)")
    parser.add_argument("--seed", type=int, default=0, help="order in which candidate bugs are tried (default 0)")
    parser.add_argument("--backend", default="auto", help="sandbox backend: auto, docker, bwrap (default auto)")
    parser.add_argument("--repos-dir", type=Path, help="where repositories go (default CACHE/swe/repos)")
    parser.add_argument("--cache-dir", type=Path, help="cache (default $AGENTSCALE_CACHE or ~/.cache/agentscale)")


def specs_from_args(args: argparse.Namespace) -> list[PackageSpec]:
    """The package specs the parsed options ask for."""
    specs = [PackageSpec.parse(s) for s in args.package] if args.package else list(FIXTURE_PACKAGES)
    if args.count is not None:
        if args.count < 1:
            raise ConfigError("--count must be at least 1")
        specs = [replace(s, count=args.count) for s in specs]
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agentscale.graphs.swe.generate``: build a task file (see the module docstring)."""
    import os

    parser = argparse.ArgumentParser(prog="python -m agentscale.graphs.swe.generate", description=_DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    cache = args.cache_dir or Path(os.environ.get("AGENTSCALE_CACHE") or Path.home() / ".cache" / "agentscale")
    try:
        made = asyncio.run(
            generate_tasks(
                specs_from_args(args),
                out=args.out,
                repos_root=args.repos_dir or cache / "swe" / "repos",
                cache_dir=cache / "swe",
                backend=args.backend,
                seed=args.seed,
                progress=lambda msg: print(msg, file=sys.stderr, flush=True),
            )
        )
    except AgentScaleError as exc:
        print(f"agentscale: error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(made)} tasks written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
