"""Git repositories made from PyPI source distributions, deterministically.

``fetch_sdist`` downloads a pinned sdist with pip (checking its sha256 when one is given);
``build_clean_repo`` unpacks it into a bare git repository as one commit with a fixed author,
date and message, so the same sdist gives the same commit hash on every machine. A task's base
commit is that commit plus the injected bug (``commit_change``), again with fixed metadata; so
``materialize_repos`` can rebuild the repositories of a task file from PyPI alone, by applying
each task's gold patch in reverse, and check it lands on the recorded hash.

Repositories live in ``repos_root/pypi__NAME`` (bare), tagged ``swe/clean-VERSION`` and
``swe/INSTANCE_ID``, which is where ``RepoSource(root=repos_root)`` looks for ``pypi/NAME``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from agentscale.errors import ConfigError
from agentscale.graphs.swe._git import FIXED_IDENTITY, GitFailed, git
from agentscale.graphs.swe.instances import SWEInstance

__all__ = [
    "build_clean_repo",
    "commit_change",
    "fetch_sdist",
    "file_sha256",
    "gold_patch",
    "materialize_repos",
    "repo_dir",
    "repo_name",
]


def repo_name(package: str) -> str:
    """The ``repo`` of tasks made from a PyPI package: ``pypi/NAME``."""
    return f"pypi/{package.lower()}"


def repo_dir(repos_root: Path, package: str) -> Path:
    """Where the repository of ``package`` lives under ``repos_root``."""
    return Path(repos_root) / repo_name(package).replace("/", "__")


def file_sha256(path: Path) -> str:
    """The sha256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_sdist(name: str, version: str, cache_dir: Path, *, sha256: str | None = None) -> Path:
    """The sdist of ``name==version`` (downloaded by pip into ``cache_dir`` the first time).

    Raises:
        ConfigError: pip cannot download it, or its sha256 differs from ``sha256``.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = _find_sdist(cache_dir, name, version)
    if found is None:
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                   "--no-binary", ":all:", "--dest", tmp, f"{name}=={version}"]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode != 0:
                raise ConfigError(f"cannot download the sdist of {name}=={version}: {proc.stderr.strip()[-800:]}")
            files = [p for p in Path(tmp).iterdir() if p.is_file()]
            if len(files) != 1:
                raise ConfigError(f"pip downloaded {len(files)} files for {name}=={version}, expected one sdist")
            found = cache_dir / files[0].name
            os.replace(files[0], found)
    if sha256 is not None and file_sha256(found) != sha256:
        raise ConfigError(f"{found.name}: sha256 {file_sha256(found)} differs from the pinned {sha256}")
    return found


def _find_sdist(cache_dir: Path, name: str, version: str) -> Path | None:
    # sdist names vary in case and separators (python-slugify-5.0.2.tar.gz, python_slugify-8.0.4.tar.gz)
    norm = re.sub(r"[-_.]+", "_", name).lower()
    for p in sorted(cache_dir.iterdir()):
        stem = re.sub(r"\.(tar\.gz|tgz|zip|tar\.bz2)$", "", p.name)
        if stem != p.name and re.sub(r"[-_.]+", "_", stem).lower() == f"{norm}_{version}".replace(".", "_").lower():
            return p
    return None


def _unpack(sdist: Path, dest: Path) -> Path:
    """Unpack an sdist; returns its single top-level folder."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise ConfigError(f"{sdist.name} holds an unsafe path {member!r}")
            zf.extractall(dest)
    else:
        with tarfile.open(sdist) as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths, '..' and links out
    tops = [p for p in dest.iterdir()]
    if len(tops) != 1 or not tops[0].is_dir():
        raise ConfigError(f"{sdist.name} does not hold one top-level folder")
    return tops[0]


def _commit_tree(repo: Path, tree: str, message: str, parent: str | None = None) -> str:
    args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
    return git(*args, cwd=repo, env=FIXED_IDENTITY).strip()


def _tag(repo: Path, tag: str, commit: str) -> None:
    git("update-ref", f"refs/tags/{tag}", commit, cwd=repo)


def _tag_commit(repo: Path, tag: str) -> str | None:
    try:
        return git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", cwd=repo).strip()
    except GitFailed:
        return None


def build_clean_repo(sdist: Path, repo: Path, *, package: str, version: str) -> str:
    """Make (or reuse) the bare repository ``repo`` holding the sdist as one deterministic commit.

    Returns:
        The commit's hash (tagged ``swe/clean-VERSION``).
    """
    repo = Path(repo)
    tag = f"swe/clean-{version}"
    if repo.is_dir() and (found := _tag_commit(repo, tag)):
        return found
    repo.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", "--bare", str(repo))
    with tempfile.TemporaryDirectory(prefix="agentscale-sdist-") as tmp:
        top = _unpack(sdist, Path(tmp) / "src")
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(f"--git-dir={repo}", f"--work-tree={top}", "add", "--all", ".", cwd=top, env=env)
        tree = git("write-tree", cwd=repo, env=env).strip()
    commit = _commit_tree(repo, tree, f"{package} {version}, as published on PyPI ({sdist.name})")
    _tag(repo, tag, commit)
    return commit


def commit_change(repo: Path, parent: str, files: dict[str, bytes], message: str) -> str:
    """Commit ``parent`` with ``files`` (path -> new content) replaced, deterministically; returns the hash."""
    with tempfile.TemporaryDirectory(prefix="agentscale-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git("read-tree", parent, cwd=repo, env=env)
        for path, content in sorted(files.items()):
            mode = git("ls-tree", parent, "--", path, cwd=repo).split(" ", 1)[0] or "100644"
            blob = git("hash-object", "-w", "--stdin", cwd=repo, input=content).strip()
            git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", cwd=repo, env=env)
        tree = git("write-tree", cwd=repo, env=env).strip()
    return _commit_tree(repo, tree, message, parent)


def gold_patch(repo: Path, base: str, fixed: str) -> str:
    """The patch from ``base`` to ``fixed`` as SWE-bench writes patches (``git diff``, ``a/`` and ``b/``)."""
    return git("diff", "--no-color", "--no-ext-diff", "--no-textconv", "--full-index", base, fixed, cwd=repo)


def _commit_from_patch(repo: Path, parent: str, patch: str, message: str, *, reverse: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="agentscale-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        patch_file = Path(tmp) / "change.patch"
        patch_file.write_text(patch, encoding="utf-8")
        git("read-tree", parent, cwd=repo, env=env)
        git("apply", "--cached", *(["-R"] if reverse else []), str(patch_file), cwd=repo, env=env)
        tree = git("write-tree", cwd=repo, env=env).strip()
    return _commit_tree(repo, tree, message, parent)


def materialize_repos(
    instances: Iterable[SWEInstance],
    repos_root: Path,
    cache_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Rebuild the repositories of generated tasks from PyPI: each one's base commit, checked by hash.

    Sdists are cached in ``cache_dir/sdists``. Instances not made by the generator (no ``pypi``
    field) are skipped. Each instance's trouble (download failed, the rebuilt commit differs) is
    reported for it alone; the others go on.

    Returns:
        instance id -> error message, for the instances that could not be rebuilt.
    """
    errors: dict[str, str] = {}
    clean: dict[tuple[str, str], str] = {}
    for inst in instances:
        info = (inst.model_extra or {}).get("pypi")
        if not isinstance(info, dict):
            continue
        try:
            name, version = str(info["name"]), str(info["version"])
            repo = repo_dir(repos_root, name)
            if (name, version) not in clean:
                sdist = fetch_sdist(name, version, cache_dir / "sdists", sha256=info.get("sha256"))
                clean[(name, version)] = build_clean_repo(sdist, repo, package=name, version=version)
                if progress:
                    progress(f"{name} {version}: clean commit {clean[(name, version)][:12]}")
            parent = clean[(name, version)]
            if info.get("clean_commit") and info["clean_commit"] != parent:
                raise ConfigError(f"the sdist gives commit {parent}, the task says {info['clean_commit']}")
            if _tag_commit(repo, f"swe/{inst.instance_id}") == inst.base_commit:
                continue
            base = _commit_from_patch(repo, parent, inst.patch, inst.instance_id, reverse=True)
            if base != inst.base_commit:
                raise ConfigError(f"rebuilt base commit {base} differs from the task's {inst.base_commit}")
            _tag(repo, f"swe/{inst.instance_id}", base)
        except (ConfigError, GitFailed, KeyError, OSError) as exc:
            errors[inst.instance_id] = str(exc)
            if progress:
                progress(f"{inst.instance_id}: {exc}")
    return errors
