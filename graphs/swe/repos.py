"""Where a task's repository comes from, and its files at the task's base commit.

A ``RepoSource`` maps a repository name (SWE-bench's ``owner/name``) to a checkout:

- an explicit mapping ``{"owner/name": PATH_OR_URL}``: a local git repository (its history holds
  the base commit), a plain directory (taken as the checkout itself; no commit is checked), or a
  git URL (``file://``, ``https://``, ``git@host:...``), cloned once as a mirror into ``clone_dir``;
- else a folder ``root/owner__name`` (how ``agentscale swe build-repos`` lays out generated tasks).

``archive(repo, commit)`` returns the tree at ``commit`` as a tar, without history: an agent gets
the files of the base commit and nothing that leads to the fix.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import tarfile
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from agentscale.errors import ConfigError
from agentscale.graphs.swe._git import GitFailed, git

__all__ = ["CommitNotFound", "RepoNotFound", "RepoSource"]

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^[\w.-]+@[\w.-]+:")


class RepoNotFound(ConfigError):
    """No checkout can be found (or cloned) for a repository name.

    Attributes:
        repo: the name asked for.
    """

    def __init__(self, repo: str, detail: str) -> None:
        self.repo = repo
        self.detail = detail
        super().__init__(f"repository {repo!r} not found: {detail}")

    def __reduce__(self):
        return (type(self), (self.repo, self.detail))


class CommitNotFound(ConfigError):
    """The repository exists but does not hold the commit asked for.

    Attributes:
        repo: the repository name.
        commit: the commit asked for.
    """

    def __init__(self, repo: str, commit: str, where: str) -> None:
        self.repo = repo
        self.commit = commit
        self.where = where
        super().__init__(f"repository {repo!r} ({where}) has no commit {commit!r}")

    def __reduce__(self):
        return (type(self), (self.repo, self.commit, self.where))


class RepoSource:
    """Finds repositories by name and hands out their files at a commit.

    Example:
        >>> repos = RepoSource({"pypi/toolz": "/src/toolz"}, root="~/.cache/agentscale/swe/repos")  # doctest: +SKIP
        >>> tar = await repos.archive("pypi/toolz", "4f2c1e0...")  # doctest: +SKIP

    Args:
        repos: repository name -> local path (git repository or plain directory) or git URL.
        root: a folder holding ``owner__name`` checkouts for names not in ``repos``.
        clone_dir: where URLs are cloned (default: a ``clones`` folder in ``root``, else a temp dir).
        cache_size: how many archives to keep in memory (a batch often checks out one commit many times).
    """

    def __init__(
        self,
        repos: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        root: str | os.PathLike[str] | None = None,
        clone_dir: str | os.PathLike[str] | None = None,
        cache_size: int = 8,
    ) -> None:
        self.repos = {str(k): str(v) for k, v in (repos or {}).items()}
        self.root = Path(root).expanduser() if root is not None else None
        if clone_dir is not None:
            self.clone_dir = Path(clone_dir).expanduser()
        elif self.root is not None:
            self.clone_dir = self.root / "clones"
        else:
            self.clone_dir = Path(tempfile.gettempdir()) / "agentscale-swe-clones"
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._locks: dict[str, asyncio.Lock] = {}

    def locate(self, repo: str) -> Path:
        """The local path of a repository (cloning a URL the first time).

        Raises:
            RepoNotFound: not mapped and not under ``root``, a mapped path that does not exist, or a
                URL that cannot be cloned.
        """
        target = self.repos.get(repo)
        if target is not None:
            if _URL.match(target):
                return self._clone(repo, target)
            path = Path(target).expanduser()
            if not path.is_dir():
                raise RepoNotFound(repo, f"mapped to {path}, which is not a directory")
            return path
        if self.root is None:
            raise RepoNotFound(repo, "not in the repository mapping (and no repository root is set)")
        path = self.root / repo.replace("/", "__")
        if not path.is_dir():
            raise RepoNotFound(
                repo,
                f"not in the repository mapping and no folder {path} (generated tasks: "
                "`agentscale swe build-repos --tasks FILE` rebuilds them)",
            )
        return path

    def _clone(self, repo: str, url: str) -> Path:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", repo)
        dest = self.clone_dir / f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:10]}.git"
        if dest.is_dir():
            return dest
        self.clone_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=self.clone_dir))
        try:
            git("clone", "--quiet", "--mirror", url, str(tmp))
            tmp.rename(dest)
        except GitFailed as exc:
            raise RepoNotFound(repo, f"cannot clone {url}: {exc.stderr.strip()[-500:]}") from exc
        except OSError:
            if not dest.is_dir():  # another process won the rename: its clone is as good as ours
                raise
        finally:
            if tmp.exists():
                _rmtree(tmp)
        return dest

    def resolve(self, repo: str, commit: str) -> str:
        """The full hash of ``commit`` in ``repo`` (fetching a cloned URL again if it is missing).

        For a plain directory (no git), returns ``commit`` unchecked.

        Raises:
            RepoNotFound: see ``locate``.
            CommitNotFound: the repository does not hold the commit.
        """
        path = self.locate(repo)
        if not _is_git(path):
            return commit
        if not re.fullmatch(r"[0-9a-fA-F]{4,64}|[\w./-]+", commit) or commit.startswith("-"):
            raise CommitNotFound(repo, commit, str(path))
        try:
            return git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", cwd=path).strip()
        except GitFailed:
            pass
        if repo in self.repos and _URL.match(self.repos[repo]):
            try:
                git("fetch", "--quiet", "--prune", "origin", cwd=path)
                return git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", cwd=path).strip()
            except GitFailed:
                pass
        raise CommitNotFound(repo, commit, str(path))

    async def archive(self, repo: str, commit: str) -> bytes:
        """The files of ``repo`` at ``commit`` as an uncompressed tar (no ``.git``, no history).

        Raises:
            RepoNotFound: see ``locate``.
            CommitNotFound: see ``resolve``.
        """
        key = (repo, commit)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        async with self._locks.setdefault(repo, asyncio.Lock()):  # one clone or fetch per repository
            if key not in self._cache:
                data = await asyncio.to_thread(self._archive, repo, commit)
                self._cache[key] = data
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return self._cache[key]

    def _archive(self, repo: str, commit: str) -> bytes:
        path = self.locate(repo)
        if not _is_git(path):
            return _tar_dir(path)
        full = self.resolve(repo, commit)
        with tempfile.TemporaryDirectory(prefix="agentscale-swe-checkout-") as tmp:
            # A private index and checkout-index: the repository's own index and work tree are never
            # touched, and unlike `git archive` no export-ignore attribute drops files.
            index = Path(tmp) / "index"
            out = Path(tmp) / "tree"
            env = {"GIT_INDEX_FILE": str(index)}
            out.mkdir()
            try:
                gitdir = git("rev-parse", "--absolute-git-dir", cwd=path).strip()
                where = (f"--git-dir={gitdir}", f"--work-tree={out}")
                git(*where, "read-tree", full, cwd=out, env=env)
                git(*where, "checkout-index", "--all", "--force", cwd=out, env=env)
            except GitFailed as exc:
                raise ConfigError(f"cannot check out {repo} at {commit}: {exc}") from exc
            return _tar_dir(out)


def _is_git(path: Path) -> bool:
    if (path / ".git").exists():
        return True
    try:  # a bare repository (a mirror clone)
        return git("rev-parse", "--is-bare-repository", cwd=path).strip() == "true"
    except GitFailed:
        return False


def _tar_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(path.iterdir()):
            if child.name != ".git":
                tar.add(child, arcname=child.name, filter=_no_owner)
    return buf.getvalue()


def _no_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
