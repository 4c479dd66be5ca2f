"""The Python client against the real agent (and, for the spool, without one)."""

import base64
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import read_spool, wait_until
import telemetry_kit

PACKAGE_DIR = os.path.join(os.path.dirname(__file__), "..")


def run_python(code, env=None, timeout=20):
    """Runs `code` in a fresh interpreter with this package importable."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = PACKAGE_DIR
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def attr(event, key):
    value = event["attributes"][key]
    ((kind, raw),) = value.items()
    return kind, raw


def test_fields_and_attribute_types_arrive_as_sent(agent):
    agent.grant("py-tool")
    client = telemetry_kit.Client("py-tool", "1.2.3")
    client.track_command("build", {"target": "release", "jobs": 8, "ratio": 0.25, "cached": False,
                                   "offset": -5}).success(False).duration(1.5).exit_code(2).record()
    client.track_feature("cache.remote", {"hits": 0})
    client.track("custom.thing")
    assert client.flush(5.0)
    assert client.stats().delivered == 3
    events = {e["name"]: e for e in agent.wait_for_events("py-tool", 3)}
    build = events["build"]
    assert build["kind"] == "EVENT_KIND_COMMAND"
    assert build["tool_version"] == "1.2.3"
    assert build["success"] is False
    assert build["duration_us"] == "1500000"
    assert build["exit_code"] == 2
    assert len(base64.b64decode(build["id"])) == 16
    assert abs(int(build["timestamp_unix_ms"]) - time.time() * 1000) < 60_000
    assert attr(build, "target") == ("string_value", "release")
    assert attr(build, "jobs") == ("int_value", "8")
    assert attr(build, "ratio") == ("double_value", 0.25)
    assert attr(build, "cached") == ("bool_value", False)
    assert attr(build, "offset") == ("int_value", "-5")
    assert events["cache.remote"]["kind"] == "EVENT_KIND_FEATURE"
    assert attr(events["cache.remote"], "hits") == ("int_value", "0")
    assert events["custom.thing"]["kind"] == "EVENT_KIND_CUSTOM"
    assert "success" not in events["custom.thing"]
    client.close()


def test_context_manager_and_decorator_record_duration_and_outcome(agent):
    agent.grant("py-scope")
    client = telemetry_kit.Client("py-scope", "1")
    with client.track_command("ok"):
        time.sleep(0.002)  # something to measure, not synchronisation
    with pytest.raises(RuntimeError):
        with client.track_command("raises"):
            raise RuntimeError("boom")
    with pytest.raises(SystemExit):
        with client.track_command("exits"):
            sys.exit(3)

    @client.track_command()
    def deploy(fail):
        if fail:
            raise ValueError("no")

    deploy(False)
    with pytest.raises(ValueError):
        deploy(True)
    assert client.flush(5.0)
    events = agent.wait_for_events("py-scope", 5)
    by_name = {}
    for event in events:
        by_name.setdefault(event["name"], []).append(event)
    assert by_name["ok"][0]["success"] is True
    assert int(by_name["ok"][0]["duration_us"]) >= 2000
    assert by_name["raises"][0]["success"] is False
    assert by_name["exits"][0]["success"] is False
    assert by_name["exits"][0]["exit_code"] == 3
    assert sorted(e["success"] for e in by_name["deploy"]) == [False, True]
    client.close()


def test_do_not_track_and_the_tool_switch_send_nothing_and_open_nothing(agent, home, monkeypatch):
    agent.grant("py-off")
    for variable, value in (("DO_NOT_TRACK", "1"), ("PY_OFF_TELEMETRY_DISABLED", "true")):
        monkeypatch.setenv(variable, value)
        client = telemetry_kit.Client("py-off", "1")
        assert client.mode == "disabled"
        client.track_feature("x")
        assert client.flush(1.0)
        assert client.stats().suppressed == 1
        client.close()
        monkeypatch.delenv(variable)
    # A falsy value is not an opt-out (but is passed to the agent raw).
    monkeypatch.setenv("DO_NOT_TRACK", "0")
    assert telemetry_kit.Client("py-off", "1").mode == "sending"
    monkeypatch.delenv("DO_NOT_TRACK")
    assert agent.events("py-off") == []
    assert not os.path.exists(os.path.join(os.environ["TELEMETRY_KIT_HOME"], "spool"))


def test_opt_out_process_opens_no_socket_and_no_file(agent):
    # An audit hook sees every socket and file the interpreter opens after the import.
    result = run_python("""
        import sys
        seen = []
        import telemetry_kit
        sys.addaudithook(lambda event, args: seen.append(event) if event in ("socket.__new__", "socket.connect", "open", "os.mkdir") else None)
        client = telemetry_kit.Client("py-off", "1")
        client.track_command("build").success(True).record()
        client.close()
        print(",".join(seen))
    """, env=dict(os.environ, DO_NOT_TRACK="1"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_import_does_no_io(home):
    result = run_python("""
        import sys
        seen = []
        import os
        home = os.environ["HOME"]
        sys.addaudithook(lambda event, args: seen.append((event, str(args[0]))) if event.startswith("socket.") or (
            event in ("open", "os.mkdir") and str(args[0]).startswith(home)) else None)
        import telemetry_kit
        print(seen)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_debug_mode_prints_json_and_sends_nothing(agent):
    agent.grant("py-debug")
    result = run_python("""
        import telemetry_kit
        client = telemetry_kit.Client("py-debug", "2.0")
        client.track_command("build", {"target": "x", "n": 3}).success(True).duration(0.001).record()
    """, env=dict(os.environ, TELEMETRY_KIT_DEBUG="1"))
    assert result.returncode == 0, result.stderr
    import json
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["tool"] == "py-debug" and line["kind"] == "command" and line["name"] == "build"
    assert line["attributes"] == {"target": "x", "n": 3}
    assert line["success"] is True and line["duration_us"] == 1000
    assert agent.events("py-debug") == []


def test_spooled_events_are_imported_once(home):
    from conftest import Agent
    agent = Agent(home)
    agent.start()
    agent.grant("py-import")
    agent.stop()
    result = run_python("""
        import telemetry_kit
        client = telemetry_kit.Client("py-import", "1")
        for i in range(20):
            client.track_feature("f%d" % i)
    """)
    assert result.returncode == 0, result.stderr
    assert len(read_spool(os.path.join(os.environ["TELEMETRY_KIT_HOME"], "spool"))) == 20
    agent.start()
    try:
        events = agent.wait_for_events("py-import", 20)
        assert sorted(e["name"] for e in events) == sorted("f%d" % i for i in range(20))
        assert len({e["id"] for e in events}) == 20
    finally:
        agent.stop()


def test_hand_over_at_exit_reaches_the_running_agent(agent):
    agent.grant("py-exit")
    result = run_python("""
        import telemetry_kit
        client = telemetry_kit.Client("py-exit", "1")
        with client.track_command("build", {"target": "release"}):
            pass
    """)
    assert result.returncode == 0, result.stderr
    events = agent.wait_for_events("py-exit", 1)
    assert events[0]["name"] == "build" and events[0]["success"] is True
    assert not os.path.exists(os.path.join(os.environ["TELEMETRY_KIT_HOME"], "spool"))


def test_a_client_local_to_a_returned_function_still_hands_over_at_exit(agent):
    agent.grant("py-local")
    result = run_python("""
        import telemetry_kit

        def main():
            client = telemetry_kit.Client("py-local", "1")
            client.track_feature("from-main")

        main()
    """)
    assert result.returncode == 0, result.stderr
    assert agent.wait_for_events("py-local", 1)[0]["name"] == "from-main"


def test_a_thousand_events_from_one_process_arrive_exactly_once(agent):
    agent.grant("py-many")
    client = telemetry_kit.Client("py-many", "1")
    for i in range(1000):
        client.track("e", {"i": i})
    assert client.flush(10.0)
    client.close()
    events = agent.wait_for_events("py-many", 1000)
    assert len(events) == 1000
    assert sorted(int(e["attributes"]["i"]["int_value"]) for e in events) == list(range(1000))


def test_stalled_agent_does_not_hold_up_exit(home):
    # A listener of our own that accepts and never reads: the tool exits anyway.
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(os.environ["TELEMETRY_KIT_SOCKET"])
    listener.listen(16)
    try:
        started = time.monotonic()
        result = run_python("""
            import telemetry_kit
            client = telemetry_kit.Client("py-stall", "1")
            for i in range(2000):
                client.track("e", {"payload": "x" * 200})
        """)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert elapsed < 10  # liveness only; the exit delay is measured in bench/clients
        # Nothing was acknowledged: every event went to the spool, also those written into the socket.
        assert len(read_spool(os.path.join(os.environ["TELEMETRY_KIT_HOME"], "spool"))) == 2000
    finally:
        listener.close()


def test_a_socket_in_a_directory_others_can_write_is_never_used(home, monkeypatch):
    shared = home / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    path = str(shared / "agent.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    monkeypatch.setenv("TELEMETRY_KIT_SOCKET", path)
    try:
        client = telemetry_kit.Client("py-impostor", "1")
        client.track_feature("x")
        assert client.flush(5.0)
        assert client.stats().spooled == 1
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_ci_markers_travel_raw_and_the_agent_drops_ci_events_unless_allowed(agent, monkeypatch):
    agent.grant("py-ci")
    agent.grant("py-ci-ok")
    monkeypatch.setenv("CI", "true")
    dropped = telemetry_kit.Client("py-ci", "1")
    kept = telemetry_kit.Client("py-ci-ok", "1", allow_ci=True)
    dropped.track_feature("x")
    kept.track_feature("x")
    assert dropped.flush(5.0) and kept.flush(5.0)
    assert agent.events("py-ci") == []
    events = agent.wait_for_events("py-ci-ok", 1)
    assert events[0]["ci"] is True


def _identity_fields(identity):
    return {field: value for field, _, value in telemetry_kit._fields(identity)}


def test_manifest_required_travels_in_the_spool_record(home):
    # No agent: the event is spooled, and the record carries the same ToolIdentity as the Hello,
    # so the agent holds an imported event as it would a live one.
    client = telemetry_kit.Client("py-manifest", "1", manifest_required=True, hand_over_at_exit=False)
    plain = telemetry_kit.Client("py-plain", "1", hand_over_at_exit=False)
    client.track_feature("f")
    plain.track_feature("f")
    client.close()
    plain.close()
    records = read_spool(os.path.join(os.environ["TELEMETRY_KIT_HOME"], "spool"))
    identities = {_identity_fields(r[1])[1]: _identity_fields(r[1]) for r in records}
    assert identities[b"py-manifest"].get(16) == 1
    assert 16 not in identities[b"py-plain"]


def test_the_agent_holds_the_events_of_a_tool_that_requires_a_manifest(agent):
    # A collector that refuses connections (a bound port nobody listens on) never answers for the
    # manifest, so the agent holds the event in memory: flush() settles it as neither accepted nor
    # dropped, `tk status` counts it held, and nothing is stored.
    with socket.socket() as refused:
        refused.bind(("127.0.0.1", 0))
        endpoint = "http://127.0.0.1:%d" % refused.getsockname()[1]
        client = telemetry_kit.Client("py-manifest", "1", endpoint, "key", consent_mode="opt-out",
                                      manifest_required=True, hand_over_at_exit=False)
        client.track_feature("held")
        assert client.flush(5.0)
        assert "1 events held in memory" in agent.tk("status")
        assert agent.events("py-manifest") == []
        client.close()


def test_forked_child_delivers_its_own_events(agent):
    agent.grant("py-fork")
    client = telemetry_kit.Client("py-fork", "1")
    client.track("parent")
    pid = os.fork()
    if pid == 0:
        try:
            client.track("child")
            client.flush(5.0)
            client.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert client.flush(5.0)
    names = sorted(e["name"] for e in agent.wait_for_events("py-fork", 2))
    assert names == ["child", "parent"]


def test_the_package_installs_with_pip_into_a_venv_and_works(tmp_path):
    # The published shape: pip installs it offline (no dependencies), and an installed tool runs.
    # The venv borrows the system's pip (--without-pip: ensurepip takes most of a minute here).
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                          capture_output=True)
    if made.returncode != 0 or subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip("python3 -m venv or pip is not available")
    import shutil
    source = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    python = str(venv / "bin" / "python")
    setuptools = os.path.dirname(os.path.dirname(__import__("setuptools").__file__))
    install = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-deps", "--no-build-isolation", str(source)],
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=setuptools), timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    run = subprocess.run([python, "-c", "import telemetry_kit; telemetry_kit.Client('py-pip', '1').track('ok')"],
                         capture_output=True, text=True, env=dict(os.environ, TELEMETRY_KIT_DEBUG="1", PYTHONPATH=""),
                         timeout=30, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert '"tool":"py-pip"' in run.stderr
