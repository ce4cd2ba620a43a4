"""Pure-Python test dependencies, vendored onto the sandbox's ``PYTHONPATH``.

Sandboxes have no network, and the evaluation image holds only Python, git and pytest. A task
whose tests import another package (python-slugify needs text-unidecode) names it in
``python_deps`` as ``name==version``; its wheel is downloaded once from PyPI by pip (on the host,
which can reach PyPI), unpacked into ``cache_dir/<name>-<version>/``, and copied into the sandbox
under ``.swe/deps/`` beside the checkout, where git ignores it. Only pure-Python wheels
(``*-none-any.whl``) qualify: anything compiled needs an image of its own (the evaluator's ``image``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from agentscale.errors import ConfigError

__all__ = ["DependencyError", "PythonDeps"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


class DependencyError(ConfigError):
    """A ``python_deps`` entry is not pinned, not on PyPI as a pure-Python wheel, or cannot be fetched."""


class PythonDeps:
    """Downloads pinned pure-Python wheels once and packs them for a sandbox.

    Example:
        >>> deps = PythonDeps(Path("~/.cache/agentscale/swe/deps").expanduser())  # doctest: +SKIP
        >>> tar = await deps.archive(["text-unidecode==1.3"])  # unpacks under .swe/deps/  # doctest: +SKIP

    Args:
        cache_dir: where unpacked wheels are kept.
        pip: the pip command (default: this interpreter's ``python -m pip``).
    """

    def __init__(self, cache_dir: str | Path, *, pip: Sequence[str] | None = None) -> None:
        self.cache_dir = Path(cache_dir).expanduser()
        self.pip = list(pip) if pip else [sys.executable, "-m", "pip"]

    def ensure(self, spec: str) -> Path:
        """The unpacked wheel of ``spec`` (downloading it the first time).

        Raises:
            DependencyError: not ``name==version``, no pure-Python wheel, or pip failed.
        """
        match = _PIN.match(spec.strip())
        if not match:
            raise DependencyError(f"python_deps entry {spec!r} must be pinned as name==version")
        name, version = match.groups()
        target = self.cache_dir / f"{name.lower().replace('_', '-')}-{version}"
        if (target / ".ok").exists():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.cache_dir / f".{target.name}.lock"):
            if (target / ".ok").exists():
                return target
            with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix=".download-") as tmp:
                cmd = [*self.pip, "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                       "--only-binary", ":all:", "--dest", tmp, f"{name}=={version}"]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
                if proc.returncode != 0:
                    raise DependencyError(
                        f"cannot download a wheel of {spec} (pure-Python deps only): {proc.stderr.strip()[-800:]}"
                    )
                wheels = sorted(Path(tmp).glob("*.whl"))
                if len(wheels) != 1 or not wheels[0].name.endswith("-none-any.whl"):
                    found = ", ".join(w.name for w in wheels) or "nothing"
                    raise DependencyError(f"{spec}: expected one pure-Python wheel (*-none-any.whl), got {found}")
                unpacked = Path(tmp) / "unpacked"
                with zipfile.ZipFile(wheels[0]) as zf:
                    for member in zf.namelist():
                        if member.startswith("/") or ".." in Path(member).parts:
                            raise DependencyError(f"{wheels[0].name} holds an unsafe path {member!r}")
                    zf.extractall(unpacked)
                (unpacked / ".ok").write_text(wheels[0].name + "\n")
                if target.exists():
                    import shutil

                    shutil.rmtree(target)
                unpacked.rename(target)
        return target

    async def archive(self, specs: Sequence[str], prefix: str = ".swe/deps") -> bytes:
        """A tar of the unpacked wheels of ``specs``, all under ``prefix`` (empty specs: an empty tar).

        Raises:
            DependencyError: see ``ensure``.
        """
        dirs = [await asyncio.to_thread(self.ensure, spec) for spec in specs]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in dirs:
                for child in sorted(d.iterdir()):
                    if child.name != ".ok":
                        tar.add(child, arcname=f"{prefix}/{child.name}")
        return buf.getvalue()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two processes preparing the same dependency: one downloads, the other waits and reuses it.
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
