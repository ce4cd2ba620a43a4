"""Host-side work dirs of process sandboxes (bubblewrap): made fresh, replaced fresh, removed.

As root a work dir is a size-limited tmpfs owned by the sandbox's uid, so filling it cannot fill
the host's disk; otherwise it is a plain directory. A reset never wipes a work dir in place:
sandboxed code could have changed the directory itself (``chmod 500 /work``, extended
attributes), so the old one is unmounted (or moved aside and deleted) and a new one takes its
place, exactly as a new sandbox gets it. ``mount(2)`` is called directly (ctypes), not through
``mount(8)``: a reset then costs two system calls, not two processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
import uuid

from agentscale.sandboxes._process import wipe_dir

__all__ = ["make_workdir", "remove_workdir", "replace_workdir"]

_MS_NOSUID, _MS_NODEV = 2, 4
_MNT_DETACH = 2


@functools.cache
def _lib() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # loaded on first use, not at import


def _mount_tmpfs(path: str, *, size_mb: int, uid: int) -> None:
    opts = f"size={size_mb}m,uid={uid},gid={uid},mode=0700".encode()
    if _lib().mount(b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount tmpfs on {path}: {os.strerror(err)}")


def _unmount(path: str) -> None:
    # lazily: a process that still holds it cannot make the reset fail; the kernel frees it after
    if _lib().umount2(path.encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if os.path.ismount(path):
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def make_workdir(path: str, *, size_mb: int, uid: int | None) -> None:
    """Create the work dir at ``path``: a tmpfs of ``size_mb`` owned by ``uid`` (as root), else a directory.

    Raises:
        OSError: it could not be made.
    """
    os.mkdir(path, 0o700)
    if uid is not None:
        try:
            _mount_tmpfs(path, size_mb=size_mb, uid=uid)
        except OSError:
            os.rmdir(path)
            raise


def replace_workdir(path: str, *, size_mb: int, uid: int | None) -> None:
    """Put a fresh, empty work dir in place of the one at ``path`` (whatever was done to it).

    Raises:
        OSError: the new one could not be made.
    """
    if uid is not None:
        _unmount(path)
        # the mount point itself is root's and was never visible inside the sandbox
        _mount_tmpfs(path, size_mb=size_mb, uid=uid)
        return
    trash = f"{path}.old-{uuid.uuid4().hex[:8]}"
    os.rename(path, trash)
    os.mkdir(path, 0o700)
    _delete(trash)


def remove_workdir(path: str) -> None:
    """Unmount (if mounted) and delete a work dir and everything in it."""
    if os.path.ismount(path):
        with contextlib.suppress(OSError):
            _unmount(path)
        if os.path.ismount(path):  # ctypes refused (no CAP_SYS_ADMIN?): the tool may still manage
            subprocess.run(["umount", "-l", path], capture_output=True)
    _delete(path)


def _delete(path: str) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)  # sandboxed code may have made it unreadable; it is ours to undo
        wipe_dir(path)
    shutil.rmtree(path, ignore_errors=True)
