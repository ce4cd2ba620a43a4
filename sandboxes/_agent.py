"""The small program that runs inside a bubblewrap sandbox and starts each call's command there.

One ``bwrap`` per sandbox lease makes the namespaces, mounts, cgroup and seccomp filter once;
this agent (Python, ``python3 -I -S``) then starts each call's command inside them, as Docker's
``exec`` does in a running container, so a call costs what the command costs and not a new
sandbox. It speaks over a ``SOCK_SEQPACKET`` socket (its fd number is the argument) with the host, one JSON message at a
time:

- host -> agent ``{"argv": [...], "env": {...}}`` with the call's stdout and stderr pipes
  attached (``SCM_RIGHTS``): it spawns the command (stdin ``/dev/null``, cwd the work dir); a
  request too big for one message comes as ``{"memfd": true}`` with a third fd holding it;
- host -> agent ``{"kill": true}``: it SIGKILLs every process of the sandbox but itself;
- agent -> host ``{"ready": true}`` once, then ``{"exit": CODE}`` per call (128+N for signal N),
  after it has killed whatever the command left running, so the call's pipes close.

Sandboxed code runs as the same user and may kill the agent (``kill -9 -1``): the host then
sees the socket close, ends that bwrap, and starts a new one for the next call.
"""

from __future__ import annotations

__all__ = ["AGENT"]

AGENT = r"""
import errno, json, os, select, signal, socket, sys
fd = int(sys.argv[1])
os.closerange(3, fd)  # whatever bwrap left open is not for the commands
os.closerange(fd + 1, 65536)
sock = socket.socket(fileno=fd)
os.set_inheritable(fd, False)
null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

def others():
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) not in (1, os.getpid()):
            try:
                with open(f"/proc/{p}/stat", "rb") as f:
                    if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                        found.append(p)
            except OSError:
                pass
    return found

def kill_others():
    # every process here we may signal, but us (and init); again while a fork bomb makes more
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not others():
            return

def receive():
    msg, fds, _, _ = socket.recv_fds(sock, 1 << 16, 3)
    for fd in fds:
        os.set_inheritable(fd, False)  # the command gets them as 1 and 2 only
    req = json.loads(msg) if msg else None
    if req is not None and req.get("memfd"):  # too big for one message: it came as a file
        with open(fds.pop(), "rb") as f:
            req = json.loads(f.read())
    return req, fds

def run(req, fds):
    argv, env = req["argv"], req["env"]
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, fds[0], 1), (os.POSIX_SPAWN_DUP2, fds[1], 2)]
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True)
    except OSError as e:
        os.write(fds[1], f"agentscale: cannot run {argv[0]!r}: {e.strerror}\n".encode())
        return 127 if e.errno == errno.ENOENT else 126
    finally:
        for fd in fds:
            os.close(fd)
    pidfd = os.pidfd_open(pid)
    while True:
        ready = select.select([pidfd, sock], [], [])[0]
        if sock in ready:
            more, extra = receive()
            for fd in extra:
                os.close(fd)
            if more is None:
                raise SystemExit(0)
            if more.get("kill"):
                kill_others()
        if pidfd in ready:
            break
    os.close(pidfd)
    try:
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:  # reaped by a kill_others() meanwhile
        code = -signal.SIGKILL
    return code if code >= 0 else 128 - code

sock.send(b'{"ready": true}')
while True:
    req, fds = receive()
    if req is None:
        break
    if req.get("kill"):
        kill_others()
        continue
    code = run(req, fds)
    kill_others()  # background jobs die with the call: their pipes close, and nothing waits for the next one
    sock.send(json.dumps({"exit": code}).encode())
"""
"""The agent's source, run as ``python3 -I -S -c AGENT FD`` with the control socket at ``FD``."""
