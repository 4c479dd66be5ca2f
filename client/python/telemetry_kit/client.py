"""The client: a bounded queue filled by the host's threads, handed to the agent by one lazily
started I/O thread, or at exit by the exiting thread itself, or appended to the spool.

Life of an event (the same as the C++ client's, client/src/core.hpp): the host's thread encodes it
and appends it to `_pending` (no I/O). The I/O thread moves it to `_backlog`, writes it to the
agent and keeps it in `_inflight` until a FlushAck covers it; a broken connection puts the
in-flight events back in front of the backlog (the agent drops duplicates by id). With no agent
(or one that stopped acknowledging) events go to the spool file the agent imports.
"""

# Only built-in modules at import, and as few as can be (a one-event CLI pays for every import,
# even of a built-in one, ~0.1-0.2 ms each: docs/benchmarks.md): _thread locks, _collections.deque;
# ids take their randomness from os.urandom. threading (for the I/O thread and flush's wait),
# select, json and functools are imported when first needed.
import _thread
import _weakref
import atexit
import os
import time
from _collections import deque

from . import _env, _transport, _wire

# Bounds of memory and timing (docs/clients-python-rust-go.md; the C++ client's Limits).
MAX_PENDING_EVENTS = 8192
MAX_PENDING_BYTES = 8 << 20
MAX_HELD_EVENTS = 4096
SPOOL_HIGH_WATER = 2048
MAX_EVENT_BYTES = 64 << 10
FLUSH_EVERY_EVENTS = 256
FLUSH_EVERY_S = 0.1
RECONNECT_GRACE_S = 1.0
STALL_AFTER_S = 0.5
MAX_BACKOFF_S = 1.0
THREAD_START_AFTER_S = 0.05
THREAD_START_EVENTS = 256
SHUTDOWN_DEADLINE_S = 0.1

class Stats:
    """What happened to a client's events so far (docs/protocol.md, "Stats a client keeps")."""

    __slots__ = ("tracked", "delivered", "spooled", "dropped", "suppressed", "reconnects")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)

    def __repr__(self):
        return "Stats(%s)" % ", ".join("%s=%d" % (n, getattr(self, n)) for n in self.__slots__)


_cores = []  # weak references to every sending client, for the fork handler


class _Ids:
    """UUIDv7: 48-bit Unix ms, a 12-bit counter for order within a millisecond, 62 random bits
    from the OS (os.urandom, drawn 1 KiB at a time and read as 64-bit words; a forked child starts
    a new pool so ids never repeat)."""

    _POOL_WORDS = 128

    def __init__(self):
        self.words = None
        self.pos = self._POOL_WORDS
        self.last_ms = 0
        self.counter = 0
        self.lock = _thread.allocate_lock()

    def next(self, now_ms):
        with self.lock:
            pos = self.pos
            if pos >= self._POOL_WORDS - 1:  # an id takes at most 2 words
                self.words = memoryview(os.urandom(self._POOL_WORDS * 8)).cast("Q")
                pos = 0
            words = self.words
            if now_ms > self.last_ms:
                self.last_ms = now_ms
                self.counter = words[pos + 1] & 0x1FF
                self.pos = pos + 2
            else:
                self.pos = pos + 1
                self.counter += 1
                if self.counter > 0xFFF:  # exhausted (or the clock went back): borrow the next ms
                    self.last_ms += 1
                    self.counter = 0
            rand_b = words[pos] & 0x3FFFFFFFFFFFFFFF
            value = (self.last_ms << 80) | (0x7 << 76) | (self.counter << 64) | (0b10 << 62) | rand_b
            return value.to_bytes(16, "big")


_ids = None


def _new_id(now_ms):
    global _ids
    if _ids is None:
        _ids = _Ids()
    return _ids.next(now_ms)


def _format_id(raw):
    h = raw.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


class Client:
    """The telemetry client of one tool. Thread-safe; never raises into the tool and never keeps
    the process alive. Events are handed over at `close()`, at interpreter exit, or by the I/O
    thread once the process has run for 50 ms."""

    def __init__(self, tool, version="", endpoint="", ingest_key="", *, consent_mode="opt-in",
                 allow_ci=False, local_only=False, hand_over_at_exit=True):
        if consent_mode not in ("opt-in", "opt-out"):
            raise ValueError("consent_mode must be 'opt-in' or 'opt-out', not %r" % (consent_mode,))
        self.tool = tool
        self.version = version
        self.mode = "disabled"
        self._tracked = self._delivered = self._spooled = self._dropped = 0
        self._suppressed = self._reconnects = 0
        self._tool_fields = _wire.tool_fields(tool.encode("utf-8", "replace"), version.encode("utf-8", "replace"))
        self._counter_lock = _thread.allocate_lock()
        if not tool:
            return  # nothing to attribute events to: disabled
        if _env.debug_requested():
            self.mode = "debug"
            self._print_trust_problems()
            return
        do_not_track, tool_disabled, ci = _env.signals(tool)
        # The agent would drop these anyway; not sending them at all is cheaper and more private.
        if _env.truthy(do_not_track) or _env.truthy(tool_disabled):
            return
        state = _env.state_dir()
        self._socket_path = _env.socket_path(state)
        identity = _wire.encode_tool_identity(tool, version, endpoint, ingest_key,
                                              consent_mode == "opt-out", allow_ci, local_only)
        signals = _wire.encode_signals(do_not_track, tool_disabled, ci)
        self._hello = _wire.hello_frame(identity, signals)
        self._spool_writer = _transport.SpoolWriter(state, _wire.spool_prefix(identity, signals))
        self._reset()
        self.mode = "sending"
        _cores.append(_weakref.ref(self))
        if hand_over_at_exit:
            # A strong reference: a client made in a function that has returned still hands its
            # events over at exit (a weak one would let it be collected with its queue first).
            atexit.register(self.close)

    # ---- the host's side ----

    def track_command(self, name=None, attributes=None):
        """A command ran. Returns a Command: use it as a context manager or a decorator (it records
        the duration and the outcome), or set `.success()`/`.duration()`/`.exit_code()` and
        `.record()` it (it is also recorded when dropped)."""
        return Command(self, name, attributes)

    def track_feature(self, name, attributes=None):
        """A feature was used."""
        self._submit(_wire.KIND_FEATURE, name, attributes)

    def track(self, name, attributes=None):
        """Anything else the tool defines."""
        self._submit(_wire.KIND_CUSTOM, name, attributes)

    def flush(self, timeout=1.0):
        """Waits until every event recorded before this call is acknowledged by the agent or
        written to the spool. True if so within `timeout` seconds."""
        if self.mode != "sending":
            return True
        with self._lock:
            target = self._accepted
            if self._settled >= target or self._stopping:
                return self._settled >= target
            self._flush_requests += 1
        self._ensure_thread()
        self._wake()
        with self._lock:
            if self._settled_changed is None:
                import threading
                self._settled_changed = threading.Condition(self._lock)
            return self._settled_changed.wait_for(lambda: self._settled >= target, timeout)

    def stats(self):
        return Stats(self._tracked, self._delivered, self._spooled, self._dropped, self._suppressed,
                     self._reconnects)

    def close(self):
        """Hands over what is queued, waiting at most 100 ms for the agent; what it did not take
        goes to the spool. Later events are dropped (and counted). Runs at exit by itself."""
        if self.mode != "sending":
            return
        deadline = time.monotonic() + SHUTDOWN_DEADLINE_S
        with self._thread_lock:
            self._shutdown_started = True
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            queued, self._pending = self._pending, deque()
            self._pending_bytes = 0
        # The I/O thread holds the I/O state only for non-blocking steps: a bounded wait.
        if not self._io_lock.acquire(timeout=SHUTDOWN_DEADLINE_S):
            self._spool(list(queued))
            return
        try:
            self._backlog.extend(queued)
            self._drain_on_shutdown(deadline)
        except Exception:
            pass
        finally:
            self._io_stopped = True
            self._io_lock.release()
        self._wake()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _submit(self, kind, name, attributes, success=None, duration_us=None, exit_code=None):
        with self._counter_lock:
            self._tracked += 1
        if self.mode == "disabled":
            self._count("_suppressed")
            return
        try:
            now_ms = time.time_ns() // 1_000_000
            event_id = _new_id(now_ms)
            if self.mode == "debug":
                self._print_debug(event_id, kind, name, now_ms, attributes, success, duration_us, exit_code)
                self._count("_suppressed")
                return
            event = _wire.encode_event(event_id, self._tool_fields, kind, name or "", now_ms, attributes,
                                       success, duration_us, exit_code)
        except Exception:
            self._count("_dropped")
            return
        if len(event) > MAX_EVENT_BYTES:
            self._count("_dropped")
            return
        start_thread = False
        with self._lock:
            if (self._stopping or len(self._pending) >= MAX_PENDING_EVENTS or
                    self._pending_bytes + len(event) > MAX_PENDING_BYTES):
                self._count("_dropped")
                return
            self._pending.append(event)
            self._pending_bytes += len(event)
            self._accepted += 1
            if self._thread is None and (len(self._pending) >= THREAD_START_EVENTS or
                                         time.monotonic() - self._created >= THREAD_START_AFTER_S):
                start_thread = True
        if start_thread:
            self._ensure_thread()
        if self._io_sleeping:
            self._wake()

    def _count(self, counter, n=1):
        with self._counter_lock:
            setattr(self, counter, getattr(self, counter) + n)

    def _settle(self, n):
        if n:
            with self._lock:
                self._settled += n
                if self._settled_changed is not None:
                    self._settled_changed.notify_all()

    def _print_debug(self, event_id, kind, name, now_ms, attributes, success, duration_us, exit_code):
        import json
        import math
        attrs = {}
        for key, value in (attributes or {}).items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif not isinstance(value, (bool, int, float)):
                value = str(value)
            attrs[str(key)] = value
        line = {"id": _format_id(event_id), "tool": self.tool, "tool_version": self.version,
                "kind": {1: "command", 2: "feature"}.get(kind, "custom"), "name": name or "",
                "timestamp_unix_ms": now_ms, "attributes": attrs}
        if success is not None:
            line["success"] = bool(success)
        if duration_us is not None:
            line["duration_us"] = int(duration_us)
        if exit_code is not None:
            line["exit_code"] = int(exit_code)
        _write_stderr(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")

    def _print_trust_problems(self):
        # Debug mode sends nothing, but says whether a real run could (an impostor's socket).
        try:
            sock, refused = _transport.connect_trusted(_env.socket_path(_env.state_dir()))
            if sock is not None:
                sock.close()
            if refused:
                _write_stderr("telemetry-kit: %s; events would be spooled\n" % refused)
        except Exception:
            pass

    # ---- state; reset in a forked child ----

    def _reset(self):
        self._lock = _thread.allocate_lock()
        self._settled_changed = None  # a threading.Condition on _lock, made by the first flush()
        self._io_lock = _thread.allocate_lock()
        self._thread_lock = _thread.allocate_lock()
        self._pending = deque()
        self._pending_bytes = 0
        self._accepted = self._settled = 0
        self._flush_requests = self._handled_flush_requests = 0
        self._flush_wanted = False
        self._stopping = self._io_stopped = self._shutdown_started = False
        self._thread = None
        self._wake_r = self._wake_w = -1
        self._io_sleeping = False
        self._created = time.monotonic()
        self._sock = None
        self._ever_connected = False
        self._lost_at = None
        self._next_connect = 0.0
        self._backoff = 0.0
        self._backlog = deque()
        self._inflight = deque()  # (event, seq)
        self._output = bytearray()
        self._next_seq = 1
        self._covered_seq = self._acked_seq = 0
        self._uncovered_since = self._awaiting_ack_since = None
        self._replies = bytearray()
        self._over_high_water = False
        self._broken_without_progress = 0

    def _reset_in_child(self):
        # The parent's thread does not exist here, and its connection is the parent's.
        if self._sock is not None:
            try:
                self._sock.detach()
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._reset()
        self._tracked = self._delivered = self._spooled = self._dropped = 0
        self._suppressed = self._reconnects = 0
        self._counter_lock = _thread.allocate_lock()

    # ---- the I/O thread ----

    def _ensure_thread(self):
        with self._thread_lock:
            if self._thread is not None or self._shutdown_started:
                return
            try:
                self._wake_r, self._wake_w = os.pipe()
                os.set_blocking(self._wake_r, False)
                os.set_blocking(self._wake_w, False)
                import threading
                thread = threading.Thread(target=self._io_main, name="telemetry-kit", daemon=True)
                thread.start()
                self._thread = thread
            except Exception:
                pass  # no thread: events wait for flush() or close(), which hand them over

    def _wake(self):
        self._io_sleeping = False
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\1")
            except OSError:
                pass  # full pipe: a wake-up is pending

    def _io_main(self):
        try:
            while True:
                with self._io_lock:
                    if self._io_stopped:
                        return
                    timeout, watch_write = self._io_step()
                if timeout is None:
                    continue
                readers = [self._wake_r]
                if self._sock is not None:
                    readers.append(self._sock)
                writers = [self._sock] if watch_write else []
                try:
                    _select(readers, writers, [], timeout if timeout >= 0 else None)
                except (OSError, ValueError):
                    time.sleep(0.01)
                self._io_sleeping = False
                try:
                    while os.read(self._wake_r, 64):
                        pass
                except OSError:
                    pass
        except Exception:
            pass  # stop sending; the host's calls still return at once, the queue stays bounded

    def _io_step(self):
        """One round of non-blocking I/O work. Returns (timeout seconds, -1 = none; or None for
        "go again at once", watch for writable)."""
        now = time.monotonic()
        flush_now = False
        overflow = []
        with self._lock:
            if self._stopping:
                self._io_sleeping = True
                return -1, False
            if self._flush_requests != self._handled_flush_requests:
                self._handled_flush_requests = self._flush_requests
                flush_now = self._flush_wanted = True
            elif self._settled >= self._accepted:
                self._flush_wanted = False
            take_all = self._spooling(now) or (flush_now and self._sock is None)
            while self._pending and (take_all or len(self._backlog) + len(self._inflight) < MAX_HELD_EVENTS):
                event = self._pending.popleft()
                self._pending_bytes -= len(event)
                self._backlog.append(event)
            # A lagging agent is waited for (bounded): spill past the high-water mark only once it
            # has acknowledged nothing for STALL_AFTER_S, or when the queue is about to overflow.
            if self._stalled(now) or len(self._pending) >= MAX_PENDING_EVENTS // 8 * 7:
                while len(self._pending) > SPOOL_HIGH_WATER:
                    event = self._pending.popleft()
                    self._pending_bytes -= len(event)
                    overflow.append(event)
            self._over_high_water = len(self._pending) > SPOOL_HIGH_WATER
        self._spool(overflow)

        if self._sock is None and self._backlog and (flush_now or now >= self._next_connect):
            self._try_connect(now)
        if self._sock is not None:
            self._fill_output(now, flush_now or self._flush_wanted)
            if not self._write_output() or not self._read_replies(now):
                self._disconnect(now)
        if self._sock is None and self._backlog and (flush_now or self._spooling(now)):
            self._spool(list(self._backlog))
            self._backlog.clear()

        self._io_sleeping = True
        with self._lock:
            room = len(self._backlog) + len(self._inflight) < MAX_HELD_EVENTS or self._spooling(now)
            if (self._pending and room) or self._flush_requests != self._handled_flush_requests:
                self._io_sleeping = False
                return None, False
        return self._wait_timeout(now), bool(self._sock is not None and self._output)

    def _wait_timeout(self, now):
        wake = []
        if self._sock is not None and self._uncovered_since is not None:
            wake.append(self._uncovered_since + FLUSH_EVERY_S)
        if self._sock is not None and self._over_high_water and self._awaiting_ack_since is not None:
            wake.append(self._awaiting_ack_since + STALL_AFTER_S)
        if self._sock is None and self._backlog:
            wake.append(self._next_connect)
            if self._lost_at is not None:
                wake.append(self._lost_at + RECONNECT_GRACE_S)
        if not wake:
            return -1
        return min(max(min(wake) - now + 0.001, 0.0), 60.0)

    def _spooling(self, now):
        return self._sock is None and not (self._lost_at is not None and now - self._lost_at < RECONNECT_GRACE_S)

    def _stalled(self, now):
        return self._awaiting_ack_since is not None and now - self._awaiting_ack_since > STALL_AFTER_S

    def _try_connect(self, now):
        sock, _ = _transport.connect_trusted(self._socket_path)
        if sock is None:
            self._backoff = min(max(self._backoff * 2, 0.01), MAX_BACKOFF_S)
            self._next_connect = now + self._backoff
            return
        self._sock = sock
        if self._ever_connected:
            self._count("_reconnects")
        self._ever_connected = True
        self._lost_at = None
        self._backoff = 0.0
        self._output = bytearray(self._hello)
        self._covered_seq = self._acked_seq = self._next_seq - 1
        self._uncovered_since = self._awaiting_ack_since = None
        self._replies = bytearray()

    def _disconnect(self, now):
        try:
            self._sock.close()
        except OSError:
            pass
        self._sock = None
        # Unacknowledged events go back to the front of the backlog, in order, to be re-sent.
        for event, _ in reversed(self._inflight):
            self._backlog.appendleft(event)
        self._inflight.clear()
        self._output = bytearray()
        self._lost_at = now
        self._next_connect = now
        # An agent that keeps closing the connection without acknowledging anything gets the
        # spool instead of an endless re-send loop.
        self._broken_without_progress += 1
        if self._broken_without_progress >= 3:
            self._lost_at = now - RECONNECT_GRACE_S
            self._backoff = MAX_BACKOFF_S
            self._next_connect = now + self._backoff

    def _fill_output(self, now, flush_now):
        while self._backlog:
            event = self._backlog.popleft()
            data = _wire.event_frame(event)
            self._output += data
            self._inflight.append((event, self._next_seq))
            self._next_seq += 1
            if self._uncovered_since is None:
                self._uncovered_since = now
        last = self._next_seq - 1
        if last <= self._covered_seq:
            return
        due = (flush_now or last - self._covered_seq >= FLUSH_EVERY_EVENTS or
               (self._uncovered_since is not None and now - self._uncovered_since >= FLUSH_EVERY_S))
        if not due:
            return
        data = _wire.flush_frame(last, int(STALL_AFTER_S * 4000))
        self._output += data
        self._covered_seq = last
        self._uncovered_since = None
        if self._awaiting_ack_since is None:
            self._awaiting_ack_since = now

    def _write_output(self):
        while self._output:
            try:
                sent = self._sock.send(self._output)
            except (BlockingIOError, InterruptedError):
                return True  # socket buffer full: wait for writable
            except OSError:
                return False
            del self._output[:sent]
        return True

    def _read_replies(self, now):
        open_ = True
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                open_ = False
                break
            if not data:
                open_ = False
                break
            self._replies += data
        pos = 0
        while len(self._replies) - pos >= 4:
            length = _wire.read_header(self._replies, pos)
            if length > _wire.MAX_FRAME_BYTES:
                return False
            if len(self._replies) - pos - 4 < length:
                break
            try:
                kind, value = _wire.decode_reply(bytes(self._replies[pos + 4:pos + 4 + length]))
            except _wire.Malformed:
                return False
            pos += 4 + length
            if kind == "flush_ack":
                self._on_ack(value, now)
            elif kind == "error":
                return False
        del self._replies[:pos]
        return open_

    def _on_ack(self, request_id, now):
        acked = 0
        while self._inflight and self._inflight[0][1] <= request_id:
            self._inflight.popleft()
            acked += 1
        self._acked_seq = max(self._acked_seq, request_id)
        self._awaiting_ack_since = None if self._acked_seq >= self._covered_seq else now
        if acked:
            self._broken_without_progress = 0
            self._count("_delivered", acked)
            self._settle(acked)

    def _spool(self, events):
        if not events:
            return
        spooled, dropped = self._spool_writer.append(events)
        self._count("_spooled", spooled)
        self._count("_dropped", dropped)
        self._settle(spooled + dropped)

    def _drain_on_shutdown(self, deadline):
        now = time.monotonic()
        if self._sock is None and self._backlog:
            self._try_connect(now)
        if self._sock is not None and not self._stalled(now):
            # A Flush after the last event: its FlushAck says the agent has stored all of them.
            self._fill_output(now, True)
            if not self._write_by(deadline) or not self._await_ack_by(deadline):
                self._disconnect(time.monotonic())
        # Whatever the agent has not acknowledged goes to the spool: in flight first (the older),
        # then the backlog (where _disconnect() put events back). An event written whole may still
        # be read by the agent, or may die with it; spooling it too is harmless: the agent dedups.
        leftovers = [event for event, _ in self._inflight]
        self._inflight.clear()
        leftovers.extend(self._backlog)
        self._backlog.clear()
        self._spool(leftovers)
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _write_by(self, deadline):
        """Writes the output until it is all out or `deadline`; False if the connection broke."""
        while True:
            if not self._write_output():
                return False
            left = deadline - time.monotonic()
            if not self._output or left <= 0:
                return True
            try:
                _select([], [self._sock], [], left)
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return True

    def _await_ack_by(self, deadline):
        """Reads replies until every event in flight is acknowledged or `deadline`; False if the
        connection broke. An agent that accepts and never reads makes this wait the whole deadline."""
        while self._inflight:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            try:
                readable, _, _ = _select([self._sock], [], [], left)
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return True
            if not readable:
                return True
            if not self._read_replies(time.monotonic()):
                return False
        return True


class Command:
    """One command run. As a context manager (or a decorator) it records the elapsed time and the
    outcome: failure if `.fail()`/`.success(False)` was called, a non-zero `.exit_code()` was set,
    or an exception left the block (SystemExit and click's Exit count by their exit code)."""

    def __init__(self, client, name, attributes):
        self._client = client
        self._name = name
        self._attributes = dict(attributes) if attributes else {}
        self._success = self._exit_code = self._duration_us = self._start = None
        self._done = False

    def success(self, succeeded=True):
        self._success = bool(succeeded)
        return self

    def fail(self):
        return self.success(False)

    def exit_code(self, code):
        self._exit_code = int(code)
        return self

    def duration(self, seconds):
        """How long the command took, in seconds (a float, or a datetime.timedelta)."""
        if hasattr(seconds, "total_seconds"):
            seconds = seconds.total_seconds()
        self._duration_us = round(seconds * 1_000_000)
        return self

    def duration_us(self, microseconds):
        self._duration_us = int(microseconds)
        return self

    def attribute(self, key, value):
        self._attributes[key] = value
        return self

    def record(self):
        """Records the event now; later calls do nothing."""
        if self._done:
            return
        self._done = True
        success = self._success
        if success is None and self._exit_code is not None:
            success = self._exit_code == 0
        self._client._submit(_wire.KIND_COMMAND, self._name, self._attributes, success,
                             self._duration_us, self._exit_code)

    def discard(self):
        self._done = True

    def __enter__(self):
        self._start = time.perf_counter_ns()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._duration_us is None and self._start is not None:
            self._duration_us = (time.perf_counter_ns() - self._start) // 1000
        if exc is not None:
            code = _exit_code_of(exc)
            if self._exit_code is None and code is not None:
                self._exit_code = code
            if self._success is None and code is None:
                self._success = False
        if self._success is None:
            self._success = self._exit_code in (None, 0)
        self.record()
        return False

    def __call__(self, func):
        """As a decorator: each call of `func` is one command (named after it by default)."""
        import functools
        self._done = True  # the template itself is never recorded
        name = self._name or func.__name__
        attributes = self._attributes

        @functools.wraps(func)
        def tracked(*args, **kwargs):
            with Command(self._client, name, attributes):
                return func(*args, **kwargs)
        return tracked

    def __del__(self):
        try:
            if not self._done:
                self.record()
        except Exception:
            pass


def _exit_code_of(exc):
    """The exit code an exception stands for (SystemExit, click's Exit), else None."""
    if isinstance(exc, SystemExit):
        code = exc.code
    elif type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
        code = exc.exit_code
    else:
        return None
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _write_stderr(text):
    data = text.encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(2, data):]
    except OSError:
        pass


def _select(*args):
    import select
    return select.select(*args)


def _after_fork_in_child():
    global _ids
    _ids = None  # never share the parent's pool of random bytes
    for ref in _cores:
        core = ref()
        if core is not None and core.mode == "sending":
            core._reset_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
