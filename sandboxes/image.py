"""The sandbox image, built from Debian's packages and cached: no container registry needed.

The recipe is ``rootfs.sh`` beside this module (``debootstrap --variant=minbase`` with python3,
git and pytest). Its hash names everything built from it, so a changed recipe means a rebuild and
an unchanged one never does:

- ``~/.cache/agentscale/rootfs/<hash>/``: the root filesystem (bubblewrap binds it read-only as ``/``);
- ``agentscale-sandbox:<hash>``: the Docker image (``docker import`` of that rootfs);
- ``~/.cache/agentscale/images/agentscale-sandbox-<hash>.tar.zst``: ``docker save | zstd``, which a
  fresh engine ``docker load``s in about a second instead of rebuilding.

Users with a registry can build ``Dockerfile`` (beside this module) instead and pass ``image=``.
Building the rootfs needs root and ``debootstrap`` (``scripts/docker-engine.sh`` installs it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentscale.errors import SandboxError, SandboxUnavailable

__all__ = [
    "DOCKERFILE",
    "RECIPE",
    "default_cache_dir",
    "ensure_image",
    "ensure_rootfs",
    "image_tag",
    "recipe_hash",
]

RECIPE = Path(__file__).with_name("rootfs.sh")
"""The shell recipe that builds the root filesystem."""
DOCKERFILE = Path(__file__).with_name("Dockerfile")
"""The same image for users with a registry: ``docker build -t NAME sandboxes/``."""
_IMPORT_CHANGES = ("ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]')


def default_cache_dir() -> Path:
    """``~/.cache/agentscale``: where built images and root filesystems are kept."""
    return Path.home() / ".cache" / "agentscale"


def recipe_hash() -> str:
    """A short hash of the recipe: what keys the cached rootfs, image and image archive."""
    h = hashlib.sha256(RECIPE.read_bytes())
    h.update(repr(_IMPORT_CHANGES).encode())
    return h.hexdigest()[:16]


def image_tag() -> str:
    """The Docker tag of the image built from the current recipe."""
    return f"agentscale-sandbox:{recipe_hash()}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two processes (two test runs, a pool and a benchmark) may build at once: one builds, one waits.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_rootfs(cache_dir: Path | None = None, *, progress: Callable[[str], None] | None = None) -> Path:
    """Return the root filesystem for the current recipe, building it first if needed (30-120 s).

    Args:
        cache_dir: the cache folder (default ``~/.cache/agentscale``).
        progress: receives the recipe's output line by line while it builds (debootstrap's steps).

    Raises:
        SandboxUnavailable: it must be built and this host cannot (not root, no debootstrap).
        SandboxError: the build failed (its log is in the message).
    """
    base = (cache_dir or default_cache_dir()) / "rootfs"
    key = recipe_hash()
    root, done = base / key, base / f"{key}.ok"
    if done.exists():
        return root
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise SandboxUnavailable(
            "the sandbox root filesystem is not built and building it needs root and debootstrap: run "
            "scripts/docker-engine.sh as root (installs debootstrap), or pass rootfs='host' to bind the "
            "host's /usr read-only instead"
        )
    with _locked(base / f"{key}.lock"):
        if done.exists():
            return root
        tmp = base / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        returncode, output = _run_recipe(tmp, progress)
        if returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SandboxError(f"building the sandbox rootfs failed:\n{output[-3000:]}")
        tmp.rename(root)
        done.touch()
    return root


def _run_recipe(target: Path, progress: Callable[[str], None] | None) -> tuple[int, str]:
    """Run the recipe into ``target``; (exit status, its output), each line told to ``progress`` as it comes."""
    lines: list[str] = []
    with subprocess.Popen(
        ["bash", str(RECIPE), str(target)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if progress is not None and line.strip():
                progress(line.strip())
    return proc.returncode, "".join(lines)


def ensure_image(client: Any, cache_dir: Path | None = None) -> str:
    """Make sure the Docker engine behind ``client`` has the sandbox image; return its tag.

    Order of preference: already there; ``docker load`` of the cached archive; import of the
    (cached or freshly built) rootfs, then save the archive for next time.

    Args:
        client: a ``docker.DockerClient``.
        cache_dir: the cache folder (default ``~/.cache/agentscale``).
    """
    import docker.errors

    tag = image_tag()
    repo, _, version = tag.partition(":")
    cache = cache_dir or default_cache_dir()

    def present() -> bool:
        try:
            client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    if present():
        return tag
    archive = cache / "images" / f"agentscale-sandbox-{version}.tar.zst"
    with _locked(cache / "images" / f"{version}.lock"):
        if present():
            return tag
        if archive.exists():
            _load(client, archive)
            if present():
                return tag
        try:
            rootfs = ensure_rootfs(cache)
        except SandboxUnavailable as exc:
            raise SandboxUnavailable(
                f"the Docker sandbox image {tag} is not built and cannot be built here ({exc}); with a "
                f"registry, `docker build -t NAME {DOCKERFILE.parent}` and pass image='NAME' instead"
            ) from exc
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
        )
        try:
            client.api.import_image_from_stream(
                tar.stdout,
                repository=repo,
                tag=version,
                changes=[*_IMPORT_CHANGES, f"LABEL agentscale.recipe={version}"],
            )
        finally:
            tar.stdout.close()  # type: ignore[union-attr]
            tar.wait()
        if not present():
            raise SandboxError(f"docker import of {rootfs} did not produce {tag}")
        _save(client, tag, archive)
    return tag


def _load(client: Any, archive: Path) -> None:
    unzstd = subprocess.Popen(["zstd", "-dcq", str(archive)], stdout=subprocess.PIPE)
    try:
        for _ in client.api.load_image(unzstd.stdout):
            pass
    finally:
        unzstd.stdout.close()  # type: ignore[union-attr]
        unzstd.wait()


def _save(client: Any, tag: str, archive: Path) -> None:
    if shutil.which("zstd") is None:
        return  # the cache is an optimisation; without zstd we rebuild from the rootfs next time
    tmp = archive.with_suffix(f".tmp-{os.getpid()}")
    with subprocess.Popen(["zstd", "-q", "-T0", "-o", str(tmp), "-f"], stdin=subprocess.PIPE) as zstd:
        try:
            for chunk in client.api.get_image(tag):
                zstd.stdin.write(chunk)  # type: ignore[union-attr]
        finally:
            zstd.stdin.close()  # type: ignore[union-attr]
    if zstd.returncode == 0:
        tmp.rename(archive)
    else:
        tmp.unlink(missing_ok=True)
