"""First-run consent for opt-in tools (the C++ client's telemetry_kit/consent.hpp, in Python): ask
the person once, on a terminal only, never in CI, never when DO_NOT_TRACK or the tool's own
opt-out is set, and record the answer with the agent, whose per-tool consent is the record of
"asked before" (`tk consent grant|deny TOOL` changes it later).

    telemetry = telemetry_kit.Client("my-cli", "1.2.0", "https://telemetry.example.com", "ingest-key")
    telemetry_kit.ask_consent_once(telemetry)

Imported on first use (`telemetry_kit.ask_consent_once`): a run that does not ask does not pay
for it. The decisions are pure functions (may_ask, question, is_yes); the rest moves bytes.
"""

import os
import time

from . import (CI_VARIABLES, Malformed, _fields, connect_trusted, frame, read_header, socket_path, state_dir,
               tool_disabled_variable, truthy, varint)

# What ask_consent_once did: the names of the C++ client's ConsentOutcome (to_string).
GRANTED = "granted"                        # asked now; the person said yes (recorded)
DENIED = "denied"                          # asked now; the person said no or just pressed Enter (recorded)
ALREADY_GRANTED = "already_granted"        # answered before: not asked again
ALREADY_DENIED = "already_denied"          # answered before (or every tool is switched off)
NOT_ASKED_NO_TTY = "not_asked_no_tty"      # the input or the output is not a terminal
NOT_ASKED_CI = "not_asked_ci"              # a CI variable is set
NOT_ASKED_OPTED_OUT = "not_asked_opted_out"        # DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED: the answer is known
NOT_ASKED_OPT_OUT_TOOL = "not_asked_opt_out_tool"  # the tool is opt-out: nothing to ask
NOT_ASKED_NO_AGENT = "not_asked_no_agent"  # the agent cannot be reached, so no answer could be recorded
NO_ANSWER = "no_answer"                    # asked, no answer in time: nothing recorded, asked again next run

DEFAULT_WHAT = ("which commands and features you use, how long they take, whether they succeed, and the "
                "tool's version")

_ACTION_STATUS, _ACTION_GRANT, _ACTION_DENY = 0, 1, 2
_CONSENT_NAMES = {0: "unset", 1: "granted", 2: "denied"}
_MAX_ANSWER_CHARS = 64


# ---- decisions (pure) ----

def may_ask(tool, consent_mode, environ, input_is_tty, output_is_tty):
    """The outcome that forbids asking, or None if asking is allowed. The opt-outs come first:
    DO_NOT_TRACK wins over everything."""
    if truthy(environ.get("DO_NOT_TRACK")) or truthy(environ.get(tool_disabled_variable(tool))):
        return NOT_ASKED_OPTED_OUT
    if consent_mode == "opt-out":
        return NOT_ASKED_OPT_OUT_TOOL
    if any(name in environ for name in CI_VARIABLES):
        return NOT_ASKED_CI
    if not (input_is_tty and output_is_tty):
        return NOT_ASKED_NO_TTY
    return None


def question(tool, endpoint="", local_only=False, what_is_collected=None):
    """The question, worded as the C++ client's."""
    destination = "kept on this machine" if not endpoint or local_only else "sent to " + endpoint
    return ("%s would like to collect anonymous usage statistics: %s, %s. Nothing identifies you.\n"
            "Allow? [y/N] " % (tool, what_is_collected or DEFAULT_WHAT, destination))


def is_yes(answer):
    """`y` or `yes` in any case, spaces ignored; anything else (Enter included) is no."""
    return "".join(answer.split()).lower() in ("y", "yes")


def confirmation(tool, granted):
    if granted:
        return "Thank you: usage statistics are on. Change this any time with `tk consent deny %s`.\n" % tool
    return "Usage statistics are off. Change this any time with `tk consent grant %s`.\n" % tool


# ---- the agent: one control request per connection ----

def consent_request_frame(request_id, action, tool):
    """Framed ClientFrame{control{request_id, consent{action, tool}}} (caller unset: a tool)."""
    name = tool.encode("utf-8", "replace")
    consent = (b"\x08" + varint(action) if action else b"") + b"\x12" + varint(len(name)) + name
    control = b"\x08" + varint(request_id) + b"\x1a" + varint(len(consent)) + consent
    return frame(b"\x22" + varint(len(control)) + control)


def decode_consent_reply(payload, request_id, tool):
    """The tool's consent ("unset", "granted", "denied") from an AgentReply payload, or None if it
    is not a successful ControlResponse to `request_id`. Raises Malformed."""
    for field, wire_type, body in _fields(payload):
        if field != 2 or wire_type != 2:
            return None  # a FlushAck or an ErrorReply
        answered, error, consent = 0, b"", None
        for f, t, v in _fields(body):
            if f == 1 and t == 0:
                answered = v
            elif f == 2 and t == 2:
                error = v
            elif f == 4 and t == 2:
                consent = v
        if answered != request_id or error:
            return None
        return _tool_consent(consent or b"", tool)
    return None


def _tool_consent(response, tool):
    name = tool.encode("utf-8", "replace")
    found = 0
    for field, wire_type, value in _fields(response):
        if field == 1 and wire_type == 0 and value == 2:
            return "denied"  # every tool is switched off
        if field == 2 and wire_type == 2:
            entry = {f: v for f, _, v in _fields(value)}
            if entry.get(1, b"") == name:
                found = entry.get(2, 0)
    return _CONSENT_NAMES.get(found, "unset")


def _agent_request(request, timeout):
    """Sends one framed control request to our own agent; the reply's payload, or None (no agent,
    no whole answer in time)."""
    deadline = time.monotonic() + max(0.0, timeout)
    sock, _ = connect_trusted(socket_path(state_dir()))
    if sock is None:
        return None
    try:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(request)
        data = b""
        while len(data) < 4 or len(data) < 4 + read_header(data):
            if len(data) >= 4 and read_header(data) > 1 << 20:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        return data[4:4 + read_header(data)]
    except (OSError, Malformed, ValueError):
        return None
    finally:
        sock.close()


def _request(action, tool, timeout):
    """Sends one consent request to our own agent; its answer, or None (no agent, no answer in
    time, an error)."""
    payload = _agent_request(consent_request_frame(1, action, tool), timeout)
    try:
        return None if payload is None else decode_consent_reply(payload, 1, tool)
    except (Malformed, ValueError):
        return None


def manifest_request_frame(request_id, tool):
    """Framed ClientFrame{control{request_id, manifest{tool}}} (as `tk manifest` asks)."""
    name = tool.encode("utf-8", "replace")
    manifest = b"\x0a" + varint(len(name)) + name
    control = b"\x08" + varint(request_id) + b"\x8a\x01" + varint(len(manifest)) + manifest
    return frame(b"\x22" + varint(len(control)) + control)


def decode_manifest_summary(payload, request_id):
    """The short form of the tool's manifest (ManifestResponse.summary) from an AgentReply payload;
    "" if the agent enforces none for the tool, refused, or answered something else. Raises Malformed."""
    for field, wire_type, body in _fields(payload):
        if field != 2 or wire_type != 2:
            return ""  # a FlushAck or an ErrorReply
        answered, error, response = 0, b"", b""
        for f, t, v in _fields(body):
            if f == 1 and t == 0:
                answered = v
            elif f == 2 and t == 2:
                error = v
            elif f == 17 and t == 2:
                response = v
        if answered != request_id or error:
            return ""
        known, summary = False, b""
        for f, t, v in _fields(response):
            if f == 1 and t == 0:
                known = v != 0
            elif f == 4 and t == 2:
                summary = v
        return summary.decode("utf-8", "replace") if known else ""
    return ""


def manifest_summary(tool, timeout=1.0):
    """The short form of the manifest the agent enforces for `tool` (what the consent prompt
    shows), or "" if it enforces none or cannot be reached."""
    payload = _agent_request(manifest_request_frame(1, tool), timeout)
    try:
        return "" if payload is None else decode_manifest_summary(payload, 1)
    except (Malformed, ValueError):
        return ""


def consent_status(tool, timeout=1.0):
    """The tool's consent as the agent records it ("unset", "granted", "denied"), or None if the
    agent cannot be reached."""
    return _request(_ACTION_STATUS, tool, timeout)


def record_consent(tool, granted, timeout=1.0):
    """Records the person's first answer for `tool` with the agent. False if the agent cannot be
    reached or refuses: a tool records an answer only while the person has not chosen for it (and
    a grant only while not every tool is switched off); changing a choice is `tk consent`'s job."""
    return _request(_ACTION_GRANT if granted else _ACTION_DENY, tool, timeout) is not None


# ---- the terminal ----

def _write_all(fd, text):
    data = text.encode("utf-8", "replace")
    while data:
        try:
            written = os.write(fd, data)
        except InterruptedError:
            continue
        except OSError:
            return
        if written <= 0:
            return
        data = data[written:]


def _read_answer(fd, timeout):
    """One line from the terminal; None on timeout, "" at end of input."""
    import select
    deadline = time.monotonic() + timeout
    line = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            ready, _, _ = select.select([fd], [], [], left)
        except InterruptedError:
            continue
        if not ready:
            return None
        try:
            byte = os.read(fd, 1)
        except InterruptedError:
            continue
        except OSError:
            return line.decode("utf-8", "replace")
        if not byte or byte == b"\n":
            return line.decode("utf-8", "replace")
        if len(line) < _MAX_ANSWER_CHARS:
            line += byte


def ask_consent_once(client_or_tool, endpoint="", *, consent_mode="opt-in", local_only=False,
                     what_is_collected=None, input_fd=0, output_fd=2, agent_timeout=1.0, answer_timeout=120.0,
                     environ=None):
    """Asks "may <tool> collect anonymous usage statistics? [y/N]" once, on a terminal, never in
    CI, and records the answer with the agent. Pass the Client (its tool, endpoint, consent mode
    and local_only are used) or a tool name and those keywords. Returns what it did (one of the
    constants above). Blocks only while the person is being asked; never raises."""
    try:
        if isinstance(client_or_tool, str):
            tool = client_or_tool
        else:
            tool = client_or_tool.tool
            endpoint = client_or_tool.endpoint
            consent_mode = client_or_tool.consent_mode
            local_only = client_or_tool.local_only
        env = os.environ if environ is None else environ
        refusal = may_ask(tool, consent_mode, env, os.isatty(input_fd), os.isatty(output_fd))
        if refusal is not None:
            return refusal
        current = consent_status(tool, agent_timeout)
        if current is None:
            return NOT_ASKED_NO_AGENT
        if current != "unset":
            return ALREADY_GRANTED if current == "granted" else ALREADY_DENIED
        # The tool's published manifest, which the agent enforces, says it best; else the tool's words.
        what = manifest_summary(tool, agent_timeout) or what_is_collected
        _write_all(output_fd, question(tool, endpoint, local_only, what))
        answer = _read_answer(input_fd, answer_timeout)
        if answer is None:
            _write_all(output_fd, "\nNo answer: nothing is collected; you will be asked again.\n")
            return NO_ANSWER
        granted = is_yes(answer)
        if not record_consent(tool, granted, agent_timeout):
            # No agent, or the person chose meanwhile (`tk consent`), whose choice stands.
            _write_all(output_fd, "Could not record your answer (the telemetry agent did not respond or "
                                  "already has a choice); nothing changes.\n")
            return NOT_ASKED_NO_AGENT
        _write_all(output_fd, confirmation(tool, granted))
        return GRANTED if granted else DENIED
    except Exception:  # never into the host
        return NOT_ASKED_NO_AGENT
