"""The system-call filter bubblewrap installs right before the sandboxed command starts.

It denies what container runtimes deny by default (Docker's default profile): the kernel's
administrative and debugging interfaces (modules, kexec, mounts, keyrings, bpf, perf,
userfaultfd, ptrace and reading other processes' memory, clocks, swap, reboot, quotas), new
namespaces (``unshare``, ``setns``, ``clone`` with a namespace flag), io_uring, and vsock
sockets (not namespaced: on a VM they reach the hypervisor). Everything else is allowed, so
ordinary programs (Python, git, compilers, pytest) run unchanged.

The filter is built with libseccomp (through ``pyseccomp``, a ctypes binding to the system's
``libseccomp.so.2``), never hand-written BPF. It is built once per backend and handed to
``bwrap --seccomp FD`` through a pipe for each call. Denials fail with ``EPERM``; ``clone3``
fails with ``ENOSYS``, since its flags sit in memory a filter cannot read, and C libraries then
fall back to ``clone``, whose flags it can.

Namespaces, an unprivileged uid and dropped capabilities are the boundary; the filter shrinks
the kernel surface behind it. It is a deny list: a system call newer than the host's
libseccomp knows is allowed (names it does not know are skipped).
"""

from __future__ import annotations

import errno as errnos
import tempfile

from agentscale.errors import SandboxUnavailable

__all__ = ["DENIED", "NAMESPACE_FLAGS", "build_filter"]

DENIED: tuple[str, ...] = (
    # kernel modules and replacing the kernel
    "create_module", "delete_module", "finit_module", "init_module", "query_module", "get_kernel_syms",
    "kexec_file_load", "kexec_load",
    # mounts, old and new API
    "mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr",
    # namespaces
    "unshare", "setns",
    # keyrings: per-user state the kernel shares outside any namespace
    "add_key", "keyctl", "request_key",
    # tracing, other processes' memory, kernel introspection
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "perf_event_open", "bpf",
    "userfaultfd", "lookup_dcookie", "syslog", "sysfs", "_sysctl", "ustat", "uselib", "fanotify_init",
    # file handles bypass path permission checks
    "name_to_handle_at", "open_by_handle_at",
    # the machine's clock, swap, power, quotas, accounting, I/O ports, NUMA policy
    "clock_adjtime", "clock_settime", "settimeofday", "stime", "swapon", "swapoff", "reboot", "quotactl",
    "quotactl_fd", "acct", "ioperm", "iopl", "vm86", "vm86old", "nfsservctl", "vhangup",
    "get_mempolicy", "set_mempolicy", "mbind", "move_pages",
    # io_uring: a second system-call interface, with a long record of kernel bugs
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)
"""System calls that fail with ``EPERM`` (names this host's libseccomp does not know are skipped)."""

NAMESPACE_FLAGS: dict[str, int] = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
"""``clone`` flags that make a new namespace: a ``clone`` with any of them fails with ``EPERM``."""

_AF_VSOCK = 40


def build_filter(deny_errno: int = errnos.EPERM) -> bytes:
    """Compile the filter to the BPF program ``bwrap --seccomp`` loads.

    Args:
        deny_errno: the error denied calls fail with (``EPERM``; tests pass an unusual one to
            tell the filter's denials from the kernel's own refusals).

    Returns:
        The program: ``struct sock_filter`` instructions, 8 bytes each.

    Raises:
        SandboxUnavailable: libseccomp (or its Python binding, ``pyseccomp``) is missing.
    """
    try:
        import pyseccomp as seccomp
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: the binding found no libseccomp
        raise SandboxUnavailable(
            f"the bubblewrap backend's seccomp filter needs libseccomp ({exc}): install Debian's libseccomp2 "
            "(scripts/sandbox-deps.sh) and the `pyseccomp` package, or pass seccomp=False to run without it"
        ) from exc
    deny = seccomp.ERRNO(deny_errno)
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED:
        _add(f, deny, name)
    for flag in NAMESPACE_FLAGS.values():
        _add(f, deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    _add(f, seccomp.ERRNO(errnos.ENOSYS), "clone3")
    _add(f, deny, "socket", seccomp.Arg(0, seccomp.EQ, _AF_VSOCK))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()


def _add(f, action: int, name: str, *args) -> None:
    try:
        f.add_rule(action, name, *args)
    except (OSError, ValueError):
        # a name this libseccomp does not know, or that does not exist on this architecture
        # (vm86 on x86_64): there is nothing to deny
        pass
