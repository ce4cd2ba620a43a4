"""Build llama.cpp's ``llama-server`` once, from the llama.cpp tree vendored in PyPI's
``llama-cpp-python`` sdist, and cache the binary.

No Debian package or prebuilt wheel of the C++ server is reachable here, but the sdist is, and
it carries the whole llama.cpp tree. ``GGML_NATIVE=OFF`` keeps the binary to AVX2 so a cached
build runs on any x86-64 machine of this kind, and a static build leaves only libc, libstdc++ and
libgomp as runtime dependencies. (llama-cpp-python's own Python server answers one request at a
time, so it is no substitute.)

The first run of ``make demo`` starts this build while the virtual environment is still being
installed: ``python agentscale/servers/build.py --cache-dir DIR`` needs nothing but the standard
library (and ``pip`` for the download), so the compile overlaps the downloads (``scripts/first-run.py``).

Layout under the cache folder::

    src/llama_cpp_python-<version>/     the unpacked sdist
    src/build-<version>/                the cmake build tree (kept, so an interrupted build resumes)
    llama-server/llama-cpp-python-<version>/llama-server    the finished binary
    logs/llama-server-build-<version>.log
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

try:
    from agentscale.errors import ServerError
    from agentscale.servers._cache import Progress, default_cache_dir, file_lock, stderr_progress
except ImportError:  # run as a file before agentscale's dependencies are installed (see _main): stdlib only
    from _cache import Progress, default_cache_dir, file_lock, stderr_progress  # type: ignore[no-redef]

    class ServerError(RuntimeError):  # type: ignore[no-redef]
        def __init__(self, message: str, *, log_path: str | None = None) -> None:
            super().__init__(message + (f" (log: {log_path})" if log_path else ""))
            self.log_path = log_path

__all__ = ["CMAKE_FLAGS", "LLAMA_CPP_PYTHON_VERSION", "ensure_llama_server", "llama_server_path"]

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

# Exactly the configuration measured in ENVIRONMENT.md.
CMAKE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_OPENSSL=OFF",
)

_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def llama_server_path(cache_dir: Path | None = None, version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    """Where the cached binary for ``version`` lives (whether or not it is built yet)."""
    return (
        (cache_dir or default_cache_dir()) / "llama-server" / f"llama-cpp-python-{version}" / "llama-server"
    )


def ensure_llama_server(
    cache_dir: Path | None = None,
    *,
    version: str = LLAMA_CPP_PYTHON_VERSION,
    jobs: int = 2,
    progress: Progress | None = stderr_progress,
) -> Path:
    """Return the path of a working ``llama-server`` binary, building it on first use.

    The first build takes about 6 minutes on 2 cores. A file lock makes a second process wait
    for a build in progress instead of starting its own; the binary appears at its final path
    only once it is complete and runs.

    Args:
        cache_dir: the cache folder (default ``~/.cache/agentscale``).
        version: the ``llama-cpp-python`` sdist whose vendored llama.cpp is built.
        jobs: parallel compile jobs.
        progress: receives one-line progress messages; ``None`` for silence.

    Returns:
        The binary's path.

    Raises:
        ServerError: cmake or a C++ compiler is missing, the download failed, or the build failed
            (the message names the build log).
    """
    say = progress or (lambda _msg: None)
    cache = cache_dir or default_cache_dir()
    dest = llama_server_path(cache, version)
    if _runs(dest):
        return dest
    with file_lock(
        dest.parent / ".build.lock", on_wait=lambda: say("waiting for another process building llama-server")
    ):
        if _runs(dest):
            return dest
        _check_toolchain()
        source = _ensure_source(cache / "src", version, say)
        log_path = cache / "logs" / f"llama-server-build-{version}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        build = cache / "src" / f"build-{version}"
        say(
            f"building llama-server from llama-cpp-python {version} (about 6 min on 2 cores); log: {log_path}"
        )
        with log_path.open("w") as log:
            _run_logged(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS], log, log_path, say)
            _run_logged(
                ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)],
                log, log_path, say,
            )  # fmt: skip
        built = build / "bin" / "llama-server"
        if not built.is_file():
            raise ServerError(f"the build finished but {built} is missing", log_path=str(log_path))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copy2(built, tmp)
        os.chmod(tmp, 0o755)
        if not _runs(tmp):
            tmp.unlink(missing_ok=True)
            raise ServerError(f"the freshly built {built} does not run", log_path=str(log_path))
        os.replace(tmp, dest)
        say(f"llama-server ready: {dest}")
        return dest


def _runs(binary: Path) -> bool:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return False
    try:
        proc = subprocess.run([str(binary), "--version"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _check_toolchain() -> None:
    missing = [tool for tool in ("cmake",) if shutil.which(tool) is None]
    if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
        missing.append("a C++ compiler")
    if not any(shutil.which(m) for m in ("make", "ninja")):
        missing.append("make")
    if missing:
        raise ServerError(
            "building llama.cpp's llama-server needs "
            + ", ".join(missing)
            + " (on Debian/Ubuntu: apt-get install -y cmake g++ make)"
        )


def _ensure_source(src_root: Path, version: str, say: Progress) -> Path:
    tree = src_root / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    if (tree / "CMakeLists.txt").is_file():
        return tree
    src_root.mkdir(parents=True, exist_ok=True)
    say(f"downloading the llama-cpp-python {version} sdist from PyPI (77 MB)")
    with tempfile.TemporaryDirectory(prefix=".sdist-", dir=src_root) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
            "--disable-pip-version-check", "-q", "-d", tmp, f"llama-cpp-python=={version}",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        archives = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if proc.returncode != 0 or not archives:
            tail = (proc.stderr or proc.stdout).strip()[-1500:]
            raise ServerError(f"pip download llama-cpp-python=={version} (sdist) failed:\n{tail}")
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(archives[0]) as tar:
            tar.extractall(unpacked, filter="data")
        top = unpacked / f"llama_cpp_python-{version}"
        if not (top / "vendor" / "llama.cpp" / "CMakeLists.txt").is_file():
            raise ServerError(f"the llama-cpp-python {version} sdist has no vendor/llama.cpp tree")
        shutil.rmtree(src_root / top.name, ignore_errors=True)
        os.replace(top, src_root / top.name)  # appears whole or not at all
    return tree


def _run_logged(cmd: list[str], log, log_path: Path, say: Progress) -> None:
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise ServerError(f"could not run {cmd[0]}: {exc}", log_path=str(log_path)) from exc
    shown = -10
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            log.write(line)
            match = _PERCENT.match(line)
            if match and int(match.group(1)) >= shown + 10:
                shown = int(match.group(1)) // 10 * 10
                say(f"  building llama-server: {shown}%")
    log.flush()
    if proc.returncode != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise ServerError(
            f"{' '.join(cmd[:2])} failed (exit {proc.returncode}):\n{tail}", log_path=str(log_path)
        )


def _main(argv: list[str] | None = None) -> int:
    """``python agentscale/servers/build.py [--cache-dir DIR] [--jobs N]``: build (or find) the binary,
    printing progress lines and, last, its path."""
    import argparse

    parser = argparse.ArgumentParser(description="Build llama.cpp's llama-server once and cache it.")
    parser.add_argument("--cache-dir", type=Path, help="the cache folder (default ~/.cache/agentscale)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="compile jobs (default: the CPUs)")
    args = parser.parse_args(argv)
    try:
        path = ensure_llama_server(args.cache_dir, jobs=args.jobs, progress=lambda m: print(m, flush=True))
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(path, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
