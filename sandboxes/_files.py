"""File names and archives going into a sandbox: validated before anything is written.

Names must be relative, without ``..``; archives may hold only regular files, directories and
symlinks whose target stays inside the work dir. Anything else is refused whole, before a single
byte lands. Host-side writes (bubblewrap's work dir lives on the host) walk the tree with
``O_NOFOLLOW`` so a symlink planted by sandboxed code can never redirect them.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agentscale.errors import ConfigError, SandboxError

__all__ = [
    "Entry",
    "check_relpath",
    "entries_from_archive",
    "entries_from_files",
    "entries_to_tar",
    "read_host_file",
    "tar_to_files",
    "write_host_entries",
]


@dataclass(frozen=True)
class Entry:
    """One thing to place in the work dir: a file (``data``), a directory, or a symlink (``target``)."""

    path: str
    kind: str  # "file" | "dir" | "symlink"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""


def check_relpath(path: str) -> str:
    """Return ``path`` normalised, or raise ``ConfigError`` if it could leave the work dir.

    Example:
        >>> check_relpath("./pkg//mod.py")
        'pkg/mod.py'
    """
    if not isinstance(path, str) or not path or "\x00" in path:
        raise ConfigError(f"bad file name {path!r}: must be a non-empty string without NUL")
    if path.startswith("/"):
        raise ConfigError(f"bad file name {path!r}: absolute paths are not allowed, use a relative path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"bad file name {path!r}: '..' is not allowed")
    if not parts:
        raise ConfigError(f"bad file name {path!r}: names no file")
    return "/".join(parts)


def _as_bytes(path: str, data: object) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise ConfigError(f"file {path!r}: content must be str or bytes, not {type(data).__name__}")


def entries_from_files(files: Mapping[str, str | bytes]) -> list[Entry]:
    """Validate a ``{name: content}`` mapping; scripts starting with ``#!`` become executable."""
    entries = []
    for name, content in files.items():
        data = _as_bytes(name, content)
        entries.append(Entry(check_relpath(name), "file", data, 0o755 if data.startswith(b"#!") else 0o644))
    return entries


def _symlink_stays_inside(link: str, target: str) -> bool:
    if not target or target.startswith("/") or "\x00" in target:
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    return resolved != ".." and not resolved.startswith("../") and not resolved.startswith("/")


def entries_from_archive(archive: bytes) -> list[Entry]:
    """Validate a tar archive (plain, gz, bz2 or xz) and return what it holds.

    Raises:
        ConfigError: a member has an absolute name, ``..``, a symlink or hard link pointing out,
            or is a device, fifo or other special file. Nothing is written in that case.
    """
    try:
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:*")
    except (tarfile.TarError, EOFError) as exc:
        raise ConfigError(f"not a readable tar archive: {exc}") from exc
    entries: list[Entry] = []
    with tar:
        for member in tar.getmembers():
            if member.name in (".", "./"):
                continue
            name = check_relpath(member.name)
            mode = member.mode & 0o777  # never setuid/setgid/sticky
            if member.isdir():
                entries.append(Entry(name, "dir", mode=mode | 0o700))
            elif member.isreg():
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                entries.append(Entry(name, "file", data, mode | 0o600))
            elif member.issym():
                if not _symlink_stays_inside(name, member.linkname):
                    raise ConfigError(
                        f"archive member {member.name!r}: symlink to {member.linkname!r} points out"
                    )
                entries.append(Entry(name, "symlink", target=member.linkname))
            elif member.islnk():
                raise ConfigError(f"archive member {member.name!r}: hard links are not allowed")
            else:
                raise ConfigError(f"archive member {member.name!r}: special files are not allowed")
    return entries


def entries_to_tar(entries: Iterable[Entry], *, uid: int, gid: int) -> bytes:
    """Pack entries as a tar (parents first), owned by ``uid:gid``, for extraction inside a container."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for entry in entries:
            parent = posixpath.dirname(entry.path)
            chain = []
            while parent and parent not in made:
                chain.append(parent)
                parent = posixpath.dirname(parent)
            for d in reversed(chain):
                tar.addfile(_info(d, tarfile.DIRTYPE, 0o755, uid, gid))
                made.add(d)
            if entry.kind == "dir":
                if entry.path not in made:
                    tar.addfile(_info(entry.path, tarfile.DIRTYPE, entry.mode, uid, gid))
                    made.add(entry.path)
            elif entry.kind == "symlink":
                info = _info(entry.path, tarfile.SYMTYPE, 0o777, uid, gid)
                info.linkname = entry.target
                tar.addfile(info)
            else:
                info = _info(entry.path, tarfile.REGTYPE, entry.mode, uid, gid)
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buf.getvalue()


def _info(name: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
    info.mtime = int(time.time())
    return info


def tar_to_files(archive: bytes) -> dict[str, bytes]:
    """The regular files in a tar produced inside a sandbox (symlinks and the rest are ignored)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar.getmembers():
            if member.isreg():
                out[member.name.removeprefix("./")] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return out


# --- host side (bubblewrap, unsafe-local): never follow a symlink the sandbox may have planted ---

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_parent(root: str, rel: str, *, create: bool, uid: int | None, gid: int | None) -> int:
    """Open the directory holding ``rel`` under ``root`` component by component, without following links."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in rel.split("/")[:-1]:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                if uid is not None:
                    os.fchown(nxt, uid, gid if gid is not None else uid)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_host_entries(root: str, entries: Iterable[Entry], *, uid: int | None, gid: int | None) -> None:
    """Write entries under the host directory ``root``, owned by ``uid:gid`` when given.

    Raises:
        SandboxError: a path runs through a symlink or a non-directory (planted by sandboxed code).
    """
    for entry in entries:
        name = entry.path.rsplit("/", 1)[-1]
        try:
            parent = _open_parent(root, entry.path, create=True, uid=uid, gid=gid)
        except (NotADirectoryError, OSError) as exc:
            raise SandboxError(
                f"cannot write {entry.path!r}: a parent is a symlink or not a directory"
            ) from exc
        try:
            if entry.kind == "dir":
                try:
                    os.mkdir(name, entry.mode, dir_fd=parent)
                except FileExistsError:
                    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                    if not stat.S_ISDIR(st.st_mode):
                        raise SandboxError(
                            f"cannot make directory {entry.path!r}: something else is there"
                        ) from None
                if uid is not None:
                    os.chown(name, uid, gid if gid is not None else uid, dir_fd=parent, follow_symlinks=False)
            elif entry.kind == "symlink":
                _unlink_if_not_dir(parent, name, entry.path)
                os.symlink(entry.target, name, dir_fd=parent)
                if uid is not None:
                    os.chown(name, uid, gid if gid is not None else uid, dir_fd=parent, follow_symlinks=False)
            else:
                # O_NOFOLLOW: a symlink planted at this name fails the open instead of being written through.
                _unlink_if_not_dir(parent, name, entry.path)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(name, flags, entry.mode, dir_fd=parent)
                try:
                    if uid is not None:
                        os.fchown(fd, uid, gid if gid is not None else uid)
                    os.fchmod(fd, entry.mode)
                    view = memoryview(entry.data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SandboxError(f"cannot write {entry.path!r}: {exc.strerror}") from exc
        finally:
            os.close(parent)


def _unlink_if_not_dir(parent: int, name: str, path: str) -> None:
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise SandboxError(f"cannot write {path!r}: a directory is there")
    os.unlink(name, dir_fd=parent)


def read_host_file(root: str, rel: str) -> bytes | None:
    """Read a regular file under ``root`` without following any symlink; ``None`` if it is not one."""
    try:
        parent = _open_parent(root, rel, create=False, uid=None, gid=None)
    except OSError:
        return None
    try:
        fd = os.open(
            rel.rsplit("/", 1)[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent
        )
    except OSError:
        return None
    finally:
        os.close(parent)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
