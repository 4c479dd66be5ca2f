"""telemetry-kit for Python tools: record which commands and features are used, hand them to
the per-user agent (or its spool), and never get in the tool's way. Standard library only.

    import telemetry_kit
    telemetry = telemetry_kit.Client("my-cli", "1.2.0", "https://telemetry.example.com", "ingest-key")
    with telemetry.track_command("build", {"target": "release"}):
        build()

Importing this package does no I/O; a Client reads its environment once, when it is made.

Everything a one-event CLI runs lives in this one file: a short-lived process pays importlib's
per-module work (finding, reading, executing) for every file it imports, ~0.2 ms each
(docs/benchmarks.md). What few runs need is imported on first use: the spool writer (_spool.py),
the consent prompt (consent.py), the argparse and click integrations (integrations.py).

Sections: the environment (opt-out signals, paths); the wire format (hand-encoded protobuf); the
socket to our own agent; the client and its commands.
"""

# Only built-in modules at import, and as few as can be (a one-event CLI pays for every import,
# even of a built-in one, ~0.1-0.2 ms each: docs/benchmarks.md): _thread locks, _collections.deque;
# ids take their randomness from os.urandom; os, stat, sys and time are loaded by every interpreter
# already. _socket (not `socket`, which imports enum and more) is imported at the first connection,
# so a disabled client or one with no agent never loads it (0.9 M instructions); threading (for the
# I/O thread and flush's wait), select, json and functools are imported when first needed.
import _thread
import _weakref
import atexit
import os
import stat
import sys
import time
from _collections import deque

__all__ = ["Client", "Command", "Stats", "track_argparse", "track_click",
           "ask_consent_once", "consent_status", "record_consent"]
__version__ = "0.1.0"


# ---- the environment: read once, when a Client is made (never at import) -----------------------


# The environment variables whose presence marks a CI run (common/include/tk/common/ci.hpp).
CI_VARIABLES = (
    "CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS", "GITLAB_CI",
    "CIRCLECI", "TRAVIS", "JENKINS_URL", "BUILDKITE", "TEAMCITY_VERSION", "TF_BUILD", "APPVEYOR",
    "CODEBUILD_BUILD_ID", "BITBUCKET_BUILD_NUMBER", "DRONE", "SEMAPHORE", "HEROKU_TEST_RUN_ID",
)

# sockaddr_un.sun_path, the terminating NUL included.
MAX_SOCKET_PATH_BYTES = 104 if sys.platform == "darwin" else 108


def tool_disabled_variable(tool):
    """`my-cli` -> `MY_CLI_TELEMETRY_DISABLED`: A-Z and 0-9 kept (upper-cased), the rest `_`."""
    name = "".join(c.upper() if c.isascii() and c.isalnum() else "_" for c in tool)
    return name + "_TELEMETRY_DISABLED"


def truthy(value):
    """Set and not empty, `0` or `false` (any case): the opt-out switches' rule."""
    return bool(value) and value != "0" and value.lower() != "false"


def read_signals(tool, environ=None):
    """(DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED, CI markers): raw values, None when unset."""
    env = os.environ if environ is None else environ
    ci = [name for name in CI_VARIABLES if name in env]
    return env.get("DO_NOT_TRACK"), env.get(tool_disabled_variable(tool)), ci


def debug_requested(environ=None):
    env = os.environ if environ is None else environ
    return truthy(env.get("TELEMETRY_KIT_DEBUG"))


def _home(env):
    home = env.get("HOME")
    if home:
        return home
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        return "/tmp/telemetry-kit-home-%d" % os.getuid()


def state_dir(environ=None):
    """TELEMETRY_KIT_HOME, else $XDG_STATE_HOME/telemetry-kit (~/.local/state/...); macOS:
    ~/Library/Application Support/telemetry-kit. The same rule as common/src/paths.cpp."""
    env = os.environ if environ is None else environ
    if env.get("TELEMETRY_KIT_HOME"):
        return env["TELEMETRY_KIT_HOME"]
    if sys.platform == "darwin":
        return os.path.join(_home(env), "Library", "Application Support", "telemetry-kit")
    if env.get("XDG_STATE_HOME"):
        return os.path.join(env["XDG_STATE_HOME"], "telemetry-kit")
    return os.path.join(_home(env), ".local", "state", "telemetry-kit")


def socket_path(state, environ=None):
    """TELEMETRY_KIT_SOCKET, else $XDG_RUNTIME_DIR/telemetry-kit/agent.sock, else agent.sock in
    the state dir, else (too long for sockaddr_un) /tmp/telemetry-kit-<uid>/agent.sock."""
    env = os.environ if environ is None else environ
    if env.get("TELEMETRY_KIT_SOCKET"):
        return env["TELEMETRY_KIT_SOCKET"]
    if env.get("XDG_RUNTIME_DIR"):
        return os.path.join(env["XDG_RUNTIME_DIR"], "telemetry-kit", "agent.sock")
    in_state = os.path.join(state, "agent.sock")
    if len(os.fsencode(in_state)) < MAX_SOCKET_PATH_BYTES:
        return in_state
    return "/tmp/telemetry-kit-%d/agent.sock" % os.getuid()


# ---- the wire format: the few protobuf messages the client writes and reads, by hand -----------
#
# Field numbers are those of proto/telemetry_kit/v1/{event,agent}.proto (docs/protocol.md); the
# encoding is byte for byte the C++ client's (client/src/wire.cpp), so the tests compare against what
# the real agent stores rather than against a second encoder. Lengths are int.to_bytes; _struct is
# imported only for a float attribute, zlib only for a spool record's checksum.

KIND_COMMAND = 1
KIND_FEATURE = 2
KIND_CUSTOM = 3

_VARINT = 0
_FIXED64 = 1
_LENGTH = 2
_FIXED32 = 5
_U64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

MAX_FRAME_BYTES = 1 << 20
SPOOL_MAGIC = b"TKS1"


_SMALL = [bytes((i,)) for i in range(128)]  # one-byte varints, ready-made


def varint(value):
    """Unsigned LEB128; a negative value is its 64-bit two's complement (as protobuf's int64)."""
    if 0 <= value < 0x80:
        return _SMALL[value]
    value &= _U64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field, wire_type):
    return varint((field << 3) | wire_type)


def _uint(field, value, always=False):
    if not value and not always:
        return b""
    return _tag(field, _VARINT) + varint(value)


def _bytes(field, data, always=False):
    if not data and not always:
        return b""
    return _tag(field, _LENGTH) + varint(len(data)) + data


# The event is encoded on the tool's thread for every call, so its fields are written with
# ready-made tags (field << 3 | wire type) rather than through the helpers above.
_T_ID, _T_KIND, _T_NAME, _T_TIME, _T_ATTR = b"\x0a\x10", b"\x20", b"\x2a", b"\x30", b"\x3a"
_T_SUCCESS, _T_DURATION, _T_EXIT = b"\x40", b"\x48", b"\x50"
_V_STRING, _V_INT, _V_DOUBLE, _V_BOOL = b"\x0a", b"\x10", b"\x19", b"\x20"


def _double(value):
    import _struct
    return _struct.pack("<d", value)


def _attribute(key, value):
    # AttributeValue is a oneof: the chosen field is written even when it holds a default value.
    if value is True or value is False:
        encoded = _V_BOOL + (b"\x01" if value else b"\x00")
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            encoded = _V_INT + varint(value)
        else:  # beyond int64: kept as a double rather than lost
            encoded = _V_DOUBLE + _double(float(value))
    elif isinstance(value, float):
        encoded = _V_DOUBLE + _double(value)
    else:
        text = str(value).encode("utf-8", "replace")
        encoded = _V_STRING + varint(len(text)) + text
    key_bytes = key.encode("utf-8", "replace")
    entry = (b"\x0a" + varint(len(key_bytes)) + key_bytes if key_bytes else b"") + b"\x12" + varint(len(encoded)) + encoded
    return _T_ATTR + varint(len(entry)) + entry


def tool_fields(tool, tool_version):
    """Event fields 2 and 3 (bytes), the same in every event of a client: encoded once."""
    return _bytes(2, tool) + _bytes(3, tool_version)


def encode_event(event_id, tool_and_version, kind, name, timestamp_ms, attributes,
                 success=None, duration_us=None, exit_code=None):
    """Serialized `Event` (without the agent-only fields); `tool_and_version` is tool_fields()."""
    name_bytes = name.encode("utf-8", "replace")
    parts = [_T_ID, event_id, tool_and_version, _T_KIND, varint(kind)]
    if name_bytes:
        parts += (_T_NAME, varint(len(name_bytes)), name_bytes)
    if timestamp_ms:
        parts += (_T_TIME, varint(timestamp_ms))
    if attributes:
        for key, value in attributes.items():
            parts.append(_attribute(str(key), value))
    # `optional` fields: written whenever set, even to a default value.
    if success is not None:
        parts += (_T_SUCCESS, b"\x01" if success else b"\x00")
    if duration_us is not None:
        parts += (_T_DURATION, varint(int(duration_us)))
    if exit_code is not None:
        # int32 on the wire: sign-extended to 64 bits, as protobuf does.
        code = int(exit_code) & 0xFFFFFFFF
        parts += (_T_EXIT, varint(code - (1 << 32) if code >= 1 << 31 else code))
    return b"".join(parts)


def encode_tool_identity(tool, version, endpoint, ingest_key, opt_out, allow_ci, local_only,
                         manifest_required=False):
    """`ToolIdentity`, sent in the Hello and carried by every spool record (so the agent treats a
    spooled event as it would a live one). Field 16, `manifest_required`, takes a two-byte tag."""
    return b"".join((_bytes(1, tool.encode()), _bytes(2, version.encode()), _bytes(3, endpoint.encode()),
                     _bytes(4, ingest_key.encode()), _uint(5, 1 if opt_out else 0),
                     _uint(6, 1 if allow_ci else 0), _uint(7, 1 if local_only else 0),
                     _uint(16, 1 if manifest_required else 0)))


def encode_signals(do_not_track, tool_disabled, ci_markers):
    """`OptOutSignals`: the raw values (None = unset) and the names of the CI variables set."""
    parts = []
    if do_not_track is not None:
        parts.append(_bytes(1, do_not_track.encode("utf-8", "surrogateescape")))
    if tool_disabled is not None:
        parts.append(_bytes(2, tool_disabled.encode("utf-8", "surrogateescape")))
    for marker in ci_markers:
        parts.append(_bytes(3, marker.encode(), True))
    parts.append(_uint(4, 1 if do_not_track is not None else 0))
    parts.append(_uint(5, 1 if tool_disabled is not None else 0))
    return b"".join(parts)


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


def hello_frame(identity, signals):
    hello = _uint(1, 1) + _bytes(2, identity, True) + _bytes(3, signals, True)
    return frame(_bytes(1, hello, True))


def event_frame(event):
    return frame(_bytes(2, event, True))


def flush_frame(request_id, deadline_ms):
    return frame(_bytes(3, _uint(1, request_id) + _uint(2, deadline_ms), True))


def spool_prefix(identity, signals):
    """The fields of a SpoolRecord that every record of this process shares."""
    return _bytes(1, identity, True) + _bytes(2, signals, True)


def spool_record(prefix, event):
    """One spool record: "TKS1", length, CRC-32 (of the length bytes and the payload), payload."""
    import zlib  # only a tool that spools needs the checksum
    payload = prefix + _bytes(3, event, True)
    length = len(payload).to_bytes(4, "big")
    return SPOOL_MAGIC + length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "big") + payload


def read_header(data, at=0):
    if at < 0 or len(data) - at < 4:
        raise ValueError("a frame header needs 4 bytes")
    return int.from_bytes(data[at:at + 4], "big")


class Malformed(ValueError):
    pass


def _fields(data):
    """Yields (field, wire_type, value) of a protobuf message; raises Malformed."""
    pos, end = 0, len(data)

    def read_varint():
        nonlocal pos
        value = shift = 0
        while shift < 64:
            if pos >= end:
                raise Malformed("truncated varint")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise Malformed("varint too long")

    while pos < end:
        key = read_varint()
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise Malformed("field 0")
        if wire_type == _VARINT:
            yield field, wire_type, read_varint()
        elif wire_type == _LENGTH:
            size = read_varint()
            if size > end - pos:
                raise Malformed("truncated bytes")
            yield field, wire_type, bytes(data[pos:pos + size])
            pos += size
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if size > end - pos:
                raise Malformed("truncated fixed")
            yield field, wire_type, bytes(data[pos:pos + size])
            pos += size
        else:
            raise Malformed("unsupported wire type")


def decode_reply(payload):
    """An AgentReply reduced to what the client uses: ("flush_ack", request_id), ("error",
    reason), or ("other", None). Raises Malformed."""
    kind, value = "other", None
    for field, wire_type, body in _fields(payload):
        if wire_type != _LENGTH:
            continue
        if field == 1:
            kind, value = "flush_ack", 0
            for f, t, v in _fields(body):
                if f == 1 and t == _VARINT:
                    value = v
        elif field == 3:
            kind, value = "error", ""
            for f, t, v in _fields(body):
                if f == 1 and t == _LENGTH:
                    value = v.decode("utf-8", "replace")
        elif field == 2:
            kind, value = "other", None
    return kind, value


# ---- the socket: only our own agent's ----------------------------------------------------------

def untrusted_dir_reason(directory):
    """Why `directory` could let another user stand in for the agent or the spool; "" if fine
    (also when it does not exist: then nothing can be connected to or is created in it yet)."""
    try:
        st = os.stat(directory)
    except OSError:
        return ""
    if not stat.S_ISDIR(st.st_mode):
        return "%s is not a directory" % directory
    me = os.geteuid()
    if st.st_uid != me:
        return "the directory %s belongs to user %d, not you (user %d)" % (directory, st.st_uid, me)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "the directory %s can be written by other users (mode %04o)" % (
            directory, stat.S_IMODE(st.st_mode))
    return ""


def _peer_uid(sock):
    import _socket  # loaded by connect_trusted already: a dictionary lookup
    if sys.platform.startswith("linux"):
        # struct ucred {pid_t pid; uid_t uid; gid_t gid;}: three native ints (no _struct import,
        # a one-event CLI would pay for it).
        creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if len(creds) < 12:
            raise OSError("short SO_PEERCRED reply")
        return int.from_bytes(creds[4:8], sys.byteorder, signed=True)
    # macOS/BSD: LOCAL_PEERCRED (SOL_LOCAL = 0, LOCAL_PEERCRED = 1) fills a struct xucred
    # {u_int cr_version; uid_t cr_uid; ...}.
    import _struct
    creds = sock.getsockopt(0, 1, 76)
    try:
        return _struct.unpack_from("Ii", creds)[1]
    except _struct.error as error:
        raise OSError(str(error))


def connect_trusted(path):
    """(socket, "") connected without blocking to our own agent, or (None, why) — why is ""
    when there is simply no agent, else the reason the socket was refused (an impostor)."""
    why = untrusted_dir_reason(os.path.dirname(path) or ".")
    if why:
        return None, why + "; telemetry-kit did not connect to the socket %s in it" % path
    try:
        st = os.lstat(path)
    except OSError:
        return None, ""  # nothing there: no agent
    me = os.geteuid()
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != me:
        what = "belongs to user %d, not you (user %d)" % (st.st_uid, me) if stat.S_ISSOCK(st.st_mode) else "is not a socket"
        return None, "the socket at %s %s; telemetry-kit did not send anything to it" % (path, what)
    import _socket  # only now: a client with no agent (or a disabled one) never loads it
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    except OSError:
        return None, ""
    try:
        sock.setblocking(False)
        sock.connect(path)  # a Unix socket connects at once or fails at once
        try:
            uid = _peer_uid(sock)
        except OSError:
            sock.close()
            return None, "cannot tell who listens on %s; telemetry-kit did not send anything to it" % path
        if uid != me:
            sock.close()
            return None, ("the socket at %s belongs to user %d, not you (user %d); telemetry-kit did "
                          "not send anything to it" % (path, uid, me))
        return sock, ""
    except OSError:
        sock.close()
        return None, ""


# ---- the client --------------------------------------------------------------------------------
#
# A bounded queue filled by the host's threads, handed to the agent by one lazily started I/O
# thread, or at exit by the exiting thread itself, or appended to the spool.
#
# Life of an event (the same as the C++ client's, client/src/core.hpp): the host's thread encodes it
# and appends it to `_pending` (no I/O). The I/O thread moves it to `_backlog`, writes it to the
# agent and keeps it in `_inflight` until a FlushAck covers it; a broken connection puts the
# in-flight events back in front of the backlog (the agent drops duplicates by id). With no agent
# (or one that stopped acknowledging) events go to the spool file the agent imports.

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
                 allow_ci=False, local_only=False, manifest_required=False, hand_over_at_exit=True):
        if consent_mode not in ("opt-in", "opt-out"):
            raise ValueError("consent_mode must be 'opt-in' or 'opt-out', not %r" % (consent_mode,))
        self.tool = tool
        self.version = version
        # What the tool declares, kept for ask_consent_once(client).
        self.endpoint, self.consent_mode, self.local_only = endpoint, consent_mode, local_only
        self.mode = "disabled"
        self._tracked = self._delivered = self._spooled = self._dropped = 0
        self._suppressed = self._reconnects = 0
        self._tool_fields = tool_fields(tool.encode("utf-8", "replace"), version.encode("utf-8", "replace"))
        self._counter_lock = _thread.allocate_lock()
        if not tool:
            return  # nothing to attribute events to: disabled
        if debug_requested():
            self.mode = "debug"
            self._print_trust_problems()
            return
        do_not_track, tool_disabled, ci = read_signals(tool)
        # The agent would drop these anyway; not sending them at all is cheaper and more private.
        if truthy(do_not_track) or truthy(tool_disabled):
            return
        state = state_dir()
        self._socket_path = socket_path(state)
        # manifest_required: the tool sends only under its manifest published on the collector; the
        # agent holds its events in memory until the collector has answered for it (docs/privacy.md).
        identity = encode_tool_identity(tool, version, endpoint, ingest_key, consent_mode == "opt-out",
                                        allow_ci, local_only, manifest_required)
        signals = encode_signals(do_not_track, tool_disabled, ci)
        self._hello = hello_frame(identity, signals)
        self._state_dir, self._spool_prefix = state, spool_prefix(identity, signals)
        self._spool_writer = None  # made on the first spool: an agent that is up never needs it
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
        self._submit(KIND_FEATURE, name, attributes)

    def track(self, name, attributes=None):
        """Anything else the tool defines."""
        self._submit(KIND_CUSTOM, name, attributes)

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
            event = encode_event(event_id, self._tool_fields, kind, name or "", now_ms, attributes,
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
            sock, refused = connect_trusted(socket_path(state_dir()))
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
        sock, _ = connect_trusted(self._socket_path)
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
            data = event_frame(event)
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
        data = flush_frame(last, int(STALL_AFTER_S * 4000))
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
            length = read_header(self._replies, pos)
            if length > MAX_FRAME_BYTES:
                return False
            if len(self._replies) - pos - 4 < length:
                break
            try:
                kind, value = decode_reply(bytes(self._replies[pos + 4:pos + 4 + length]))
            except Malformed:
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
        writer = self._spool_writer
        if writer is None:
            from ._spool import SpoolWriter
            writer = self._spool_writer = SpoolWriter(self._state_dir, self._spool_prefix)
        spooled, dropped = writer.append(events)
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
        self._client._submit(KIND_COMMAND, self._name, self._attributes, success,
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


def __getattr__(name):
    # Imported on first use: the integrations import argparse (and click when used), the consent
    # prompt its own reads and writes; a tool that does not use them does not pay for them.
    if name in ("track_argparse", "track_click"):
        from . import integrations
        return getattr(integrations, name)
    if name in ("ask_consent_once", "consent_status", "record_consent"):
        from . import consent
        return getattr(consent, name)
    raise AttributeError("module 'telemetry_kit' has no attribute %r" % name)
