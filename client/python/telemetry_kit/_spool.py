"""The spool writer, imported on the first spool (an agent that is up never needs it): appends
SpoolRecords to <state dir>/spool next to other processes (docs/protocol.md, "Spool file")."""

import os
import stat
import time

from . import spool_record, untrusted_dir_reason

SPOOL_MAX_FILE_BYTES = 16 << 20
SPOOL_LOCK_WAIT_S = 0.2
_MAX_WRITE_BYTES = 256 << 10


def _ensure_private_dir(directory):
    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise PermissionError("%s is not a directory of yours" % directory)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(directory, 0o700)


def _file_problem(path, st):
    if not stat.S_ISREG(st.st_mode):
        return "%s is not a regular file, not telemetry-kit's file" % path
    if st.st_uid != os.geteuid():
        return "%s belongs to user %d, not you" % (path, st.st_uid)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "%s can be written by other users (mode %04o)" % (path, stat.S_IMODE(st.st_mode))
    return ""


class SpoolWriter:
    """Appends SpoolRecords to <state dir>/spool by the protocol's rules (docs/protocol.md,
    "Spool file"): O_APPEND|O_NOFOLLOW|O_NONBLOCK, flock waited for at most 200 ms, checked to
    still be the file named spool after the lock, whole records per write(), at most 16 MiB."""

    def __init__(self, state_dir, prefix, max_file_bytes=SPOOL_MAX_FILE_BYTES):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "spool")
        self.prefix = prefix
        self.max_file_bytes = max_file_bytes
        self.refused = ""

    def _open(self):
        self.refused = untrusted_dir_reason(self.state_dir)
        if self.refused:
            return -1
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK |
                 getattr(os, "O_CLOEXEC", 0))
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            _ensure_private_dir(self.state_dir)
            fd = os.open(self.path, flags, 0o600)
        except OSError as error:
            import errno  # only on this error path: a one-event CLI would pay for it
            if error.errno in (errno.ELOOP, errno.ENXIO):  # a planted symlink or FIFO
                self.refused = "%s is not a regular file, not telemetry-kit's file" % self.path
            return -1
        self.refused = _file_problem(self.path, os.fstat(fd))
        if self.refused:
            os.close(fd)
            return -1
        return fd

    def _open_locked(self):
        import fcntl
        for _ in range(8):
            fd = self._open()
            if fd < 0:
                return -1
            deadline = time.monotonic() + SPOOL_LOCK_WAIT_S
            while True:  # a stopped holder must not hang the tool: write without the lock then
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.0005)
            opened, named = os.fstat(fd), None
            try:
                named = os.lstat(self.path)
            except OSError:
                pass
            if named is not None and (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino):
                return fd
            os.close(fd)  # the agent renamed it for import meanwhile: open the new spool
        self.refused = "the spool %s was replaced while opening it, again and again" % self.path
        return -1

    def append(self, events):
        """Appends one record per serialized event; returns (spooled, dropped). Never raises."""
        if not events:
            return 0, 0
        spooled = 0
        try:
            fd = self._open_locked()
            if fd >= 0:
                try:
                    size = os.fstat(fd).st_size
                    chunk, count = [], 0
                    chunk_bytes = 0
                    for i, event in enumerate(events):
                        record = spool_record(self.prefix, event)
                        chunk.append(record)
                        chunk_bytes += len(record)
                        count += 1
                        if chunk_bytes >= _MAX_WRITE_BYTES or i == len(events) - 1:
                            data = b"".join(chunk)
                            if size + len(data) <= self.max_file_bytes and _write_all(fd, data):
                                spooled += count
                                size += len(data)
                            chunk, count, chunk_bytes = [], 0, 0
                finally:
                    os.close(fd)  # and with it the lock
        except Exception:  # never into the host: what is not written is counted as dropped
            pass
        return spooled, len(events) - spooled


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return False
        if written <= 0:
            return False
        view = view[written:]
    return True
