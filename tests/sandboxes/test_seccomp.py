"""The bubblewrap backend's seccomp filter, tested for real: each denial on the kernel, and the
filter in place in a sandbox (where code that would otherwise succeed is refused)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from agentscale.sandboxes import SandboxLimits, open_sandbox
from agentscale.sandboxes._seccomp import DENIED, NAMESPACE_FLAGS, build_filter

try:
    import pyseccomp
except (ImportError, RuntimeError) as exc:  # RuntimeError: no libseccomp on this host
    pytest.skip(f"no libseccomp here ({exc}): run scripts/sandbox-deps.sh", allow_module_level=True)

CLONE_THREAD = 0x00010000
# Loads the BPF program given on stdin into this process (as bwrap does), becomes nobody, then
# makes each call of the JSON list in argv[1] and prints {name: errno (0 = it succeeded)}.
PROBE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
calls = json.loads(sys.argv[1])
prog = sys.stdin.buffer.read()
if prog:
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
    fprog = SockFprog(len(prog) // 8, prog)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    assert libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0, os.strerror(ctypes.get_errno())  # SECCOMP_MODE_FILTER
if os.geteuid() == 0:  # make the calls as nobody: one the filter let through could change nothing
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
out = {}
for label, nr, args in calls:
    ctypes.set_errno(0)
    res = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    out[label] = ctypes.get_errno() if res == -1 else 0
print(json.dumps(out))
"""
# Arguments that make each call harmless: a NULL where the kernel wants a pointer (EFAULT), a bad
# magic number (reboot: EINVAL), or a no-op (unshare(0)). The probe makes them as nobody besides,
# so a call the filter failed to stop could change nothing on the host.
ARGS = {
    "ptrace": [-1, 0, 0, 0],  # no such request: EIO
    "setns": [-1, 0],
    "kcmp": [0, 0, -1, 0, 0],
    "socket(AF_VSOCK)": [40, 1, 0],
}


def _nr(name: str) -> int:
    return pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)


def _calls() -> list[tuple[str, int, list[int]]]:
    calls = [(name, _nr(name), ARGS.get(name, [0] * 6)) for name in DENIED if _nr(name) >= 0]
    # a namespace flag with CLONE_THREAD alone is invalid: without the filter it fails with EINVAL
    clone = _nr("clone")
    calls += [(f"clone({flag})", clone, [bit | CLONE_THREAD, 0, 0, 0, 0]) for flag, bit in NAMESPACE_FLAGS.items()]
    calls += [("clone3", _nr("clone3"), [0, 0]), ("socket(AF_VSOCK)", _nr("socket"), ARGS["socket(AF_VSOCK)"])]
    return calls


def _probe(program: bytes, calls) -> dict[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(calls)],
        input=program,
        capture_output=True,
        timeout=60,
        start_new_session=True,  # no terminal for vhangup
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_each_denial_on_the_kernel():
    # The filter is loaded for real and each denied call made: an errno that no system call returns
    # on its own marks the filter's denials, so none of them can be the kernel refusing a user.
    marker = errno.ENOTRECOVERABLE
    calls = _calls()
    assert len(calls) >= 60
    filtered = _probe(build_filter(deny_errno=marker), calls)
    want = {label: marker for label, _, _ in calls} | {"clone3": errno.ENOSYS}
    assert filtered == want, {k: os.strerror(v) for k, v in filtered.items() if v != want[k]}
    # clone3 exists here (without the filter it refuses a zero size: EINVAL): ENOSYS is the filter's
    assert _probe(b"", [("clone3", _nr("clone3"), [0, 0])]) == {"clone3": errno.EINVAL}


def test_filter_lets_ordinary_calls_through():
    program = build_filter()
    # unrelated calls, and clone without namespace flags (what fork and threads do), pass
    calls = [("getpid", _nr("getpid"), []), ("clone(thread-invalid)", _nr("clone"), [CLONE_THREAD, 0, 0, 0, 0])]
    assert _probe(program, calls) == {"getpid": 0, "clone(thread-invalid)": errno.EINVAL}


# What sandboxed code could do as its unprivileged user without the filter, and may not with it.
SANDBOX_PROBES = {
    "ptrace(TRACEME)": ("ptrace", [0, 0, 0, 0]),
    "unshare(0)": ("unshare", [0]),
    "keyctl(get @s)": ("keyctl", [0, -3, 0]),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "process_vm_readv": ("process_vm_readv", [0, 0, 0, 0, 0, 0]),
    "io_uring_setup": ("io_uring_setup", [0, 0]),
    "userfaultfd": ("userfaultfd", [1]),  # UFFD_USER_MODE_ONLY
    "perf_event_open": ("perf_event_open", [0, 0, -1, -1, 0]),
}


@pytest.mark.bwrap
@pytest.mark.parametrize("seccomp", [True, False], ids=["filtered", "unfiltered"])
async def test_filter_is_in_place_in_a_sandbox(bwrap_ready, seccomp):
    calls = [(label, _nr(name), args) for label, (name, args) in SANDBOX_PROBES.items()]
    code = PROBE.replace("prog = sys.stdin.buffer.read()", "prog = b''")
    limits = SandboxLimits(timeout=30)
    async with open_sandbox("bwrap", limits=limits, seccomp=seccomp) as sb:
        status = await sb.run("grep -E '^Seccomp:' /proc/self/status")
        r = await sb.run(["python3", "-c", code, json.dumps(calls)])
        assert sb.enforced.syscall_filter == ("seccomp" if seccomp else None)
    assert r.ok, r
    got = json.loads(r.stdout)
    if seccomp:
        assert status.stdout.split() == ["Seccomp:", "2"], status
        assert got == {label: errno.EPERM for label in SANDBOX_PROBES}, got
    else:
        # the control: these calls are not refused for lack of privilege alone
        assert status.stdout.split() == ["Seccomp:", "0"], status
        assert got["ptrace(TRACEME)"] == 0 and got["unshare(0)"] == 0 and got["keyctl(get @s)"] == 0, got
