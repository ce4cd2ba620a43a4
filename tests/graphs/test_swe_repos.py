"""Where repositories come from, and deterministic repositories made from sdists (host git only)."""

from __future__ import annotations

import io
import pickle
import subprocess
import tarfile

import pytest

from agentscale.graphs.swe import CommitNotFound, RepoNotFound, RepoSource, SWEInstance, materialize_repos
from agentscale.graphs.swe.pypi import build_clean_repo, commit_change, gold_patch, repo_dir

ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "PATH": "/usr/bin:/bin",
}


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git repository with two commits; returns (path, first commit, second commit)."""
    path = tmp_path / "src"
    (path / "pkg").mkdir(parents=True)
    _git(path, "init", "-q")
    (path / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (path / ".gitattributes").write_text("secret.txt export-ignore\n")
    (path / "secret.txt").write_text("still part of the checkout\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "one")
    first = _git(path, "rev-parse", "HEAD")
    (path / "pkg" / "mod.py").write_text("def f():\n    return 2\n")
    (path / "later.txt").write_text("only in the second commit\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "two")
    return path, first, _git(path, "rev-parse", "HEAD")


def _files(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}


async def test_archive_is_the_tree_at_the_commit_without_history(repo):
    path, first, second = repo
    source = RepoSource({"octo/repo": path})
    files = _files(await source.archive("octo/repo", first))
    assert files == {
        "pkg/mod.py": "def f():\n    return 1\n",
        ".gitattributes": "secret.txt export-ignore\n",
        "secret.txt": "still part of the checkout\n",  # unlike `git archive`, export-ignore drops nothing
    }
    assert "later.txt" in _files(await source.archive("octo/repo", second[:10]))  # abbreviated hashes work
    assert _git(path, "status", "--porcelain") == ""  # the user's work tree and index are untouched


async def test_urls_are_cloned_once_and_roots_are_searched(repo, tmp_path):
    path, first, _ = repo
    source = RepoSource({"octo/repo": f"file://{path}"}, clone_dir=tmp_path / "clones")
    assert "pkg/mod.py" in _files(await source.archive("octo/repo", first))
    assert len(list((tmp_path / "clones").iterdir())) == 1
    root = tmp_path / "root"
    (root / "octo__other").mkdir(parents=True)
    (root / "octo__other" / "README").write_text("a plain folder is taken as the checkout\n")
    plain = RepoSource(root=root)
    files = _files(await plain.archive("octo/other", "anything"))
    assert files == {"README": "a plain folder is taken as the checkout\n"}


async def test_missing_repositories_and_commits_are_clear_errors(repo, tmp_path):
    path, _, _ = repo
    source = RepoSource({"octo/repo": path, "octo/gone": tmp_path / "nope", "octo/url": f"file://{tmp_path}/nope"},
                        root=tmp_path)  # fmt: skip
    with pytest.raises(RepoNotFound, match="'octo/unknown' not found: .* no folder .*octo__unknown"):
        await source.archive("octo/unknown", "abc")
    with pytest.raises(RepoNotFound, match="not a directory"):
        await source.archive("octo/gone", "abc")
    with pytest.raises(RepoNotFound, match="cannot clone"):
        await source.archive("octo/url", "abc")
    with pytest.raises(CommitNotFound, match="has no commit 'deadbeefdeadbeef'") as info:
        await source.archive("octo/repo", "deadbeefdeadbeef")
    with pytest.raises(CommitNotFound):
        await source.archive("octo/repo", "--upload-pack=evil")  # never read as an option
    err = pickle.loads(pickle.dumps(info.value))
    assert (err.repo, err.commit) == ("octo/repo", "deadbeefdeadbeef")
    with pytest.raises(RepoNotFound, match="no repository root"):
        await RepoSource().archive("octo/repo", "abc")


def _sdist(tmp_path, name="demo", version="1.0"):
    top = f"{name}-{version}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, text in {"demo/__init__.py": "def add(a, b):\n    return a + b\n", "test_demo.py": "x = 1\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size = len(data)
            info.mtime = 12345
            tar.addfile(info, io.BytesIO(data))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{top}.tar.gz"
    path.write_bytes(buf.getvalue())
    return path


def test_repositories_from_sdists_are_deterministic(tmp_path):
    sdist = _sdist(tmp_path)
    a = build_clean_repo(sdist, tmp_path / "a" / "pypi__demo", package="demo", version="1.0")
    b = build_clean_repo(sdist, tmp_path / "b" / "pypi__demo", package="demo", version="1.0")
    assert a == b  # same sdist, same commit hash, wherever and whenever it is built
    assert build_clean_repo(sdist, tmp_path / "a" / "pypi__demo", package="demo", version="1.0") == a  # reused
    bug = {"demo/__init__.py": b"def add(a, b):\n    return a - b\n"}
    base_a = commit_change(tmp_path / "a" / "pypi__demo", a, bug, "pypi__demo-1.0-01")
    base_b = commit_change(tmp_path / "b" / "pypi__demo", b, bug, "pypi__demo-1.0-01")
    assert base_a == base_b
    patch = gold_patch(tmp_path / "a" / "pypi__demo", base_a, a)
    assert "-    return a - b\n+    return a + b\n" in patch and patch.startswith("diff --git a/demo/__init__.py")


def test_materialize_rebuilds_base_commits_from_the_gold_patch(tmp_path):
    cache = tmp_path / "cache"
    sdist = _sdist(cache / "sdists")  # already in the cache: no download
    scratch = tmp_path / "scratch" / "pypi__demo"
    clean = build_clean_repo(sdist, scratch, package="demo", version="1.0")
    base = commit_change(scratch, clean, {"demo/__init__.py": b"def add(a, b):\n    return b\n"}, "pypi__demo-1.0-01")
    common = {"repo": "pypi/demo", "problem_statement": "add is wrong", "FAIL_TO_PASS": ["test_demo.py::t"],
              "pypi": {"name": "demo", "version": "1.0", "clean_commit": clean}}  # fmt: skip
    good = SWEInstance.model_validate(
        {**common, "instance_id": "pypi__demo-1.0-01", "base_commit": base, "patch": gold_patch(scratch, base, clean)}
    )
    wrong = SWEInstance.model_validate({**common, "instance_id": "pypi__demo-1.0-02", "base_commit": "0" * 40,
                                        "patch": good.patch})  # fmt: skip
    plain = SWEInstance.model_validate({**common, "instance_id": "other-1", "base_commit": "abc", "pypi": None})
    errors = materialize_repos([good, wrong, plain], tmp_path / "repos", cache)
    assert list(errors) == ["pypi__demo-1.0-02"] and "differs from the task's" in errors["pypi__demo-1.0-02"]
    rebuilt = repo_dir(tmp_path / "repos", "demo")
    assert _git(rebuilt, "rev-parse", "refs/tags/swe/pypi__demo-1.0-01") == base
    assert materialize_repos([good], tmp_path / "repos", cache) == {}  # a second run finds it done
