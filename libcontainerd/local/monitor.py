"""The monitor of one container process (a container's init, or an exec): its own program.

Run as `python -I -S monitor.py <monitor.conf>` by the local backend; standard
library only; its config is `key=value` lines (`read_config`). It forks once: the
first process reports the outcome of the runtime's create (or exec) on its stdout
and exits, so the daemon is never the monitor's parent, and the second goes on in
a session of its own:

- it is a child subreaper, so the process the runtime starts (detached) is
  re-parented to it and it alone can `waitpid` it for its exit status, which it
  writes atomically to `exit` (`<code> <time> <pid>`) before it exits (the daemon
  watches it through a pidfd and reads that file, also after a daemon restart);
- it holds a read end of the output FIFOs and a write end of the stdin FIFO, so the
  process neither gets SIGPIPE nor sees end of stdin while no daemon reads or writes;
- with a terminal it receives the pty master on the console socket and copies
  between it and the FIFOs;
- it obeys lines on its control FIFO: `close-stdin`, `resize <width> <height>`.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import struct
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket

# Imports are kept to what every monitor needs (json, subprocess, socket and termios
# cost about half of its start-up CPU): formats are plain text, the runtime is started
# with posix_spawn, and the terminal's modules are imported only with a terminal.

PR_SET_CHILD_SUBREAPER = 36
_CHUNK = 64 * 1024
# After the process exits, how long the terminal's last output may take to come out.
_DRAIN_TIMEOUT = 5.0


def _blocking(fd: int) -> int:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    return fd


def _open_output(path: str) -> tuple[int, int]:
    """(write end for the process, read end the monitor keeps so writes never hit EPIPE)."""
    keep = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    return _blocking(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)), keep


def _open_input(path: str) -> tuple[int, int]:
    """(read end for the process, write end the monitor keeps until `close-stdin`)."""
    end = _blocking(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    keep = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    return end, keep


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_config(path: str, config: dict[str, str]) -> None:
    with open(path, "w") as f:
        f.writelines(f"{key}={value}\n" for key, value in config.items())


def read_config(path: str) -> dict[str, str]:
    config = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            config[key] = value
    return config


def _runtime_error(log_path: str, returncode: int) -> str:
    """The runtime's last error message from its JSON log, else its exit code."""
    import json  # only on this failure path

    message = ""
    try:
        with open(log_path) as log:
            for line in log:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg") or message)
    except OSError:
        pass
    return message or f"runtime exited with status {returncode}"


class Monitor:
    def __init__(self, config: dict[str, str]) -> None:
        self.config = config
        self.terminal = config.get("terminal") == "1"
        self.master: int | None = None
        self.stdin_keep: int | None = None
        self.lock = threading.Lock()
        self.copiers: list[threading.Thread] = []

    # -- start -------------------------------------------------------------------------

    def command(self, console: str) -> list[str]:
        c = self.config
        argv = [c["runtime"], "--root", c["root"], "--log", c["log"], "--log-format", "json"]
        if c["mode"] == "exec":
            argv += ["exec", "--detach", "--pid-file", c["pid_file"], "--process", c["process"]]
        else:
            argv += ["create", "--bundle", c["bundle"], "--pid-file", c["pid_file"]]
        if console:
            argv += ["--console-socket", console]
        return [*argv, c["id"]]

    def start(self) -> int:
        """Runs the runtime's create or exec; the pid of the process it started."""
        c = self.config
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        # The ends the process gets (stdin, stdout, stderr), and the monitor's own.
        stdio = [devnull, devnull, devnull]
        self.kept: list[int] = []
        if c.get("stdin"):
            stdio[0], self.stdin_keep = _open_input(c["stdin"])
        for index, stream in ((1, "stdout"), (2, "stderr")):
            if c.get(stream) and not (self.terminal and stream == "stderr"):
                stdio[index], held = _open_output(c[stream])
                self.kept.append(held)
        self.stdio = stdio
        console = ""
        listener = None
        if self.terminal:
            # Relative to the monitor's cwd, which is where the runtime dials it from (create
            # runs in the bundle): an absolute path may be longer than a socket address.
            console = "console.sock"
            import socket

            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(console)
            listener.listen(1)
        # With a terminal the process's stdio is the pty; the FIFO ends are the monitor's.
        passed = [devnull] * 3 if self.terminal else stdio
        argv = self.command(console)
        runtime = os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(passed)],
        )
        if listener is not None:
            self.master = self._receive_master(listener, runtime)
            listener.close()
            os.unlink(console)
        if not self.terminal:
            # The process has them now: end of stream is when it (and its children) close.
            for fd in stdio:
                if fd != devnull:
                    os.close(fd)
        returncode = _wait_exit_code(runtime)
        if returncode != 0:
            raise RuntimeError(_runtime_error(c["log"], returncode))
        with open(c["pid_file"]) as f:
            return int(f.read().strip())

    def _receive_master(self, listener: socket.socket, runtime: int) -> int:
        # Either the runtime connects and sends the master, or it fails first.
        exited = os.pidfd_open(runtime)
        try:
            ready, _, _ = select.select([listener.fileno(), exited], [], [])
        finally:
            os.close(exited)
        if listener.fileno() not in ready:
            raise RuntimeError(_runtime_error(self.config["log"], _wait_exit_code(runtime)))
        conn, _ = listener.accept()
        with conn:
            fds = array_of_fds(conn)
        if not fds:
            raise RuntimeError("the runtime sent no console")
        return fds[0]

    # -- while it runs ---------------------------------------------------------------

    def serve(self) -> None:
        c = self.config
        threading.Thread(target=self._control, daemon=True).start()
        if self.master is not None:
            if c.get("stdout"):
                t = threading.Thread(
                    target=self._copy_out, args=(self.master, self.stdio[1]), daemon=True
                )
                t.start()
                self.copiers.append(t)
            if c.get("stdin"):
                threading.Thread(target=self._copy_in, daemon=True).start()

    def _copy_out(self, source: int, sink: int) -> None:
        while True:
            try:
                data = os.read(source, _CHUNK)
            except OSError:  # EIO: every holder of the terminal's other side is gone
                return
            if not data:
                return
            try:
                _write_all(sink, data)
            except OSError:
                return

    def _copy_in(self) -> None:
        # The stdin FIFO to the terminal: the process has the terminal instead.
        assert self.master is not None
        fd = self.stdio[0]
        while True:
            data = os.read(fd, _CHUNK)
            if not data:
                return
            try:
                _write_all(self.master, data)
            except OSError:
                return

    def _control(self) -> None:
        fd = os.open(self.config["control"], os.O_RDWR)
        with os.fdopen(fd, "r") as control:
            for line in control:
                words = line.split()
                if words == ["close-stdin"]:
                    with self.lock:
                        if self.stdin_keep is not None:
                            os.close(self.stdin_keep)
                            self.stdin_keep = None
                elif len(words) == 3 and words[0] == "resize" and self.master is not None:
                    import termios

                    size = struct.pack("HHHH", int(words[2]), int(words[1]), 0, 0)
                    with contextlib.suppress(OSError):
                        fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def wait(self, pid: int) -> tuple[int, float]:
        """Reaps every orphan that comes to it until `pid` exits; its exit code and time."""
        while True:
            try:
                reaped, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 255, time.time()
            except InterruptedError:
                continue
            if reaped == pid:
                when = time.time()
                if os.WIFSIGNALED(status):
                    return 128 + os.WTERMSIG(status), when
                return os.WEXITSTATUS(status), when

    def finish(self, pid: int, exit_code: int, exited_at: float) -> None:
        deadline = time.monotonic() + _DRAIN_TIMEOUT
        for copier in self.copiers:
            copier.join(max(0.0, deadline - time.monotonic()))
        path = self.config["exit_file"]
        with open(path + ".tmp", "w") as f:
            f.write(f"{exit_code} {exited_at!r} {pid}\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(path + ".tmp", path)


def read_exit(path: str) -> tuple[int, float, int]:
    """What `finish` wrote: the exit code, the time of the exit and the pid."""
    with open(path) as f:
        code, when, pid = f.read().split()
    return int(code), float(when), int(pid)


def _wait_exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def array_of_fds(conn: socket.socket) -> list[int]:
    """The fds of one SCM_RIGHTS message."""
    import socket

    size = struct.calcsize("i")
    _, ancillary, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4 * size))
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % size
            fds.extend(struct.unpack(f"{usable // size}i", data[:usable]))
    return fds


_LIBC = ctypes.CDLL(None, use_errno=True)
# mount(2) flags among a mount's options; the others are the filesystem's data.
_MOUNT_FLAGS = {
    "ro": 1, "rw": 0, "nosuid": 2, "nodev": 4, "noexec": 8,
    "bind": 4096, "rbind": 4096 | 16384,
}  # fmt: skip
MNT_DETACH = 2


def _become_subreaper() -> None:
    if _LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def mount_rootfs(config: dict[str, str]) -> str:
    """Mounts the rootfs the config names (`rootfs_type`, `_source`, `_options`: one mount,
    as the local snapshotter gives) at the bundle's `rootfs`; where, or "" for none.
    The monitor does it, as a containerd shim does, so a start forks no mount(8)."""
    kind = config.get("rootfs_type", "")
    if not kind:
        return ""
    target = os.path.join(config["bundle"], "rootfs")
    os.makedirs(target, exist_ok=True)
    flags, data = 0, []
    for option in filter(None, config.get("rootfs_options", "").split(",")):
        if option in _MOUNT_FLAGS:
            flags |= _MOUNT_FLAGS[option]
        else:
            data.append(option)
    fstype = None if kind == "bind" else kind.encode()
    if (
        _LIBC.mount(
            config["rootfs_source"].encode(),
            target.encode(),
            fstype,
            flags,
            ",".join(data).encode() if data else None,
        )
        != 0
    ):
        errno_ = ctypes.get_errno()
        raise OSError(errno_, f"mount {kind} on {target}: {os.strerror(errno_)}")
    return target


def unmount(target: str) -> None:
    if target and _LIBC.umount2(target.encode(), 0) != 0:
        _LIBC.umount2(target.encode(), MNT_DETACH)  # busy: gone once its last user is


def main() -> int:
    config = read_config(sys.argv[1])
    report_r, report_w = os.pipe()
    if os.fork():
        # The first process: relays the second one's report, so the daemon's wait for
        # this process ends with the outcome of the create, and it is not the parent.
        os.close(report_w)
        chunks = []
        while chunk := os.read(report_r, _CHUNK):
            chunks.append(chunk)
        sys.stdout.buffer.write(b"".join(chunks))
        sys.stdout.flush()
        return 0
    os.close(report_r)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # Nothing of the daemon's may stay open here (its pipes would never see their end).
    os.closerange(3, report_w)
    os.closerange(report_w + 1, os.sysconf("SC_OPEN_MAX"))
    os.chdir(config["bundle"] if config["mode"] == "create" else config["dir"])
    monitor = Monitor(config)
    rootfs = ""
    try:
        _become_subreaper()
        rootfs = mount_rootfs(config)
        pid = monitor.start()
    except Exception as exc:
        unmount(rootfs)
        _write_all(report_w, f"error {exc}".replace("\n", " ").encode())
        os.close(report_w)
        return 1
    monitor.serve()
    _write_all(report_w, f"pid {pid} {os.getpid()}".encode())
    os.close(report_w)
    exit_code, exited_at = monitor.wait(pid)
    # The container has no process left (its pid namespace ended with its init).
    unmount(rootfs)
    monitor.finish(pid, exit_code, exited_at)
    # Now, without waiting for the copiers: a process the exited one left behind may
    # hold the terminal open, and the exit must not wait for it.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
