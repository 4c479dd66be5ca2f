"""Fixtures: a private home for each test (TELEMETRY_KIT_HOME/SOCKET, HOME and XDG_* in a temp
dir, no opt-out or CI variables inherited) and the real agent, started from the build tree
(TK_AGENT_BINARY and TK_CLI_BINARY, set by the ctest entry)."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import telemetry_kit as _env  # noqa: E402  (the environment section of the package module)


def wait_until(condition, timeout=10.0, what="condition"):
    """Polls `condition` until it is true or `timeout` seconds pass (then fails the test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name in _env.CI_VARIABLES or name.endswith("_TELEMETRY_DISABLED") or name in (
                "DO_NOT_TRACK", "TELEMETRY_KIT_DEBUG"):
            monkeypatch.delenv(name)
    state = tmp_path / "home"
    run = tmp_path / "run"
    for directory in (state, run):
        directory.mkdir(mode=0o700)
    monkeypatch.setenv("TELEMETRY_KIT_HOME", str(state))
    monkeypatch.setenv("TELEMETRY_KIT_SOCKET", str(run / "agent.sock"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for xdg in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(xdg, str(tmp_path / xdg.lower()))
    return tmp_path


def _binary(variable):
    path = os.environ.get(variable)
    if not path or not os.access(path, os.X_OK):
        pytest.skip("%s is not set to a built program (run through ctest)" % variable)
    return path


class Agent:
    def __init__(self, home):
        self.home = home
        self.socket = os.environ["TELEMETRY_KIT_SOCKET"]
        self.binary = _binary("TK_AGENT_BINARY")
        self.tk_binary = _binary("TK_CLI_BINARY")
        self.process = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.home / ("agent-%d.log" % self.starts), "wb")
        self.process = subprocess.Popen(
            [self.binary, "--socket", self.socket, "--home", os.environ["TELEMETRY_KIT_HOME"],
             "--log-level", "warn"], stdout=log, stderr=log)
        wait_until(self._answers, 15, "the agent's socket")

    def _answers(self):
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(self.socket)
                return True
            except OSError:
                return False

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def tk(self, *args):
        return subprocess.run([self.tk_binary, "--socket", self.socket, *args], capture_output=True,
                              text=True, timeout=20, check=True).stdout

    def grant(self, tool):
        self.tk("consent", "grant", tool)

    def events(self, tool):
        return json.loads(self.tk("events", "--tool", tool, "--limit", "50000", "--json")).get("events", [])

    def wait_for_events(self, tool, count, timeout=10.0):
        return wait_until(lambda: (lambda e: e if len(e) >= count else None)(self.events(tool)), timeout,
                          "%d events of %s" % (count, tool))


@pytest.fixture
def agent(home):
    running = Agent(home)
    running.start()
    yield running
    running.stop()


def read_spool(path):
    """The SpoolRecords' (tool identity, signals, event) payload fields of a spool file, checked
    record by record (magic, length, CRC-32)."""
    import zlib
    import telemetry_kit as _wire
    data = open(path, "rb").read()
    records, pos = [], 0
    while pos < len(data):
        assert data[pos:pos + 4] == b"TKS1", "bad magic at %d" % pos
        length = _wire.read_header(data, pos + 4)
        crc = _wire.read_header(data, pos + 8)
        payload = data[pos + 12:pos + 12 + length]
        assert len(payload) == length, "torn record"
        assert zlib.crc32(payload, zlib.crc32(data[pos + 4:pos + 8])) == crc, "bad checksum"
        records.append({f: v for f, _, v in _wire._fields(payload)})
        pos += 12 + length
    return records
