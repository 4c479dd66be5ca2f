"""The consent helper: its decisions without I/O, then the whole prompt on a real pseudo-terminal
against the real agent (the answer recorded where `tk consent` sees it)."""

import os
import pty

import pytest

import telemetry_kit
from telemetry_kit import consent


def test_opt_outs_win_over_everything():
    tty = dict(input_is_tty=True, output_is_tty=True)
    assert consent.may_ask("my-cli", "opt-in", {}, **tty) is None
    assert consent.may_ask("my-cli", "opt-in", {"DO_NOT_TRACK": "1", "CI": "true"}, **tty) == consent.NOT_ASKED_OPTED_OUT
    assert consent.may_ask("my-cli", "opt-out", {"MY_CLI_TELEMETRY_DISABLED": "yes"}, **tty) == consent.NOT_ASKED_OPTED_OUT
    # A falsy value is no opt-out (the switches' rule).
    assert consent.may_ask("my-cli", "opt-in", {"DO_NOT_TRACK": "0"}, **tty) is None
    assert consent.may_ask("my-cli", "opt-out", {}, **tty) == consent.NOT_ASKED_OPT_OUT_TOOL
    assert consent.may_ask("my-cli", "opt-in", {"GITHUB_ACTIONS": "true"}, **tty) == consent.NOT_ASKED_CI
    assert consent.may_ask("my-cli", "opt-in", {}, input_is_tty=False, output_is_tty=True) == consent.NOT_ASKED_NO_TTY
    assert consent.may_ask("my-cli", "opt-in", {}, input_is_tty=True, output_is_tty=False) == consent.NOT_ASKED_NO_TTY


def test_question_and_answers():
    assert consent.question("my-cli") == (
        "my-cli would like to collect anonymous usage statistics: which commands and features you use, how long "
        "they take, whether they succeed, and the tool's version, kept on this machine. Nothing identifies you.\n"
        "Allow? [y/N] ")
    assert "sent to https://t.example.com." in consent.question("my-cli", "https://t.example.com")
    assert "kept on this machine." in consent.question("my-cli", "https://t.example.com", local_only=True)
    assert "statistics: the build targets, sent" in consent.question("my-cli", "https://x", what_is_collected="the build targets")
    for yes in ("y", "Y", "yes", " YES \r", "y e s"):
        assert consent.is_yes(yes), yes
    for no in ("", "n", "no", "yess", "ok", "sure"):
        assert not consent.is_yes(no), no


def test_the_wire_messages():
    assert consent.consent_request_frame(1, 0, "t").hex() == "0000000922070801" + "1a03" + "120174"
    # AgentReply{control{request_id 1, consent{tools [{t, granted}, {u, denied}]}}}
    def reply(request_id, response):
        control = b"\x08" + bytes([request_id]) + b"\x22" + bytes([len(response)]) + response
        return b"\x12" + bytes([len(control)]) + control
    granted_t, denied_u = bytes.fromhex("12050a01741001"), bytes.fromhex("12050a01751002")
    assert consent.decode_consent_reply(reply(1, granted_t + denied_u), 1, "t") == "granted"
    assert consent.decode_consent_reply(reply(1, granted_t + denied_u), 1, "u") == "denied"
    assert consent.decode_consent_reply(reply(1, granted_t + denied_u), 1, "v") == "unset"
    assert consent.decode_consent_reply(reply(2, granted_t), 1, "t") is None  # not the answer to this request
    # Every tool switched off (global denied): denied, whatever the tool's own entry.
    assert consent.decode_consent_reply(reply(1, b"\x08\x02" + granted_t), 1, "t") == "denied"
    assert consent.decode_consent_reply(bytes.fromhex("1a040a026e6f"), 1, "t") is None  # an ErrorReply


class Terminal:
    """A pseudo-terminal: the helper gets its tty end for reading and writing; the test types the
    answer into the other end and reads what the helper wrote."""

    def __init__(self):
        self.master, self.tty = pty.openpty()

    def type(self, text):
        os.write(self.master, text.encode())

    def screen(self):
        import select
        out = b""
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode("utf-8", "replace")

    def close(self):
        os.close(self.master)
        os.close(self.tty)


@pytest.fixture
def terminal():
    t = Terminal()
    yield t
    t.close()


def ask(tool, terminal, **kwargs):
    return telemetry_kit.ask_consent_once(tool, input_fd=terminal.tty, output_fd=terminal.tty, **kwargs)


def test_asks_once_on_a_terminal_and_the_agent_keeps_the_answer(agent, terminal):
    client = telemetry_kit.Client("py-consent", "1.0", "https://t.example.com", "key")
    terminal.type("y\n")
    assert telemetry_kit.ask_consent_once(client, input_fd=terminal.tty, output_fd=terminal.tty) == "granted"
    screen = terminal.screen()
    assert "py-consent would like to collect anonymous usage statistics" in screen
    assert "sent to https://t.example.com." in screen
    assert "tk consent deny py-consent" in screen
    assert "py-consent" in agent.tk("consent", "status") and telemetry_kit.consent_status("py-consent") == "granted"
    # Answered: not asked again (nothing typed; it would wait for the answer otherwise).
    assert ask("py-consent", terminal, answer_timeout=5) == "already_granted"
    assert "Allow?" not in terminal.screen()


def test_enter_is_no_and_the_person_choice_stands(agent, terminal):
    terminal.type("\n")
    assert ask("py-no", terminal) == "denied"
    assert telemetry_kit.consent_status("py-no") == "denied"
    assert ask("py-no", terminal) == "already_denied"
    # A tool cannot overwrite the person's choice.
    assert telemetry_kit.record_consent("py-no", True) is False
    assert telemetry_kit.consent_status("py-no") == "denied"


def test_no_answer_records_nothing(agent, terminal):
    assert ask("py-silent", terminal, answer_timeout=0.2) == "no_answer"
    assert "asked again" in terminal.screen()
    assert telemetry_kit.consent_status("py-silent") == "unset"


def test_never_asks_without_a_terminal_in_ci_or_opted_out(agent, terminal, monkeypatch):
    read, write = os.pipe()
    try:
        assert telemetry_kit.ask_consent_once("py-pipe", input_fd=read, output_fd=terminal.tty) == "not_asked_no_tty"
    finally:
        os.close(read)
        os.close(write)
    assert ask("py-opt-out", terminal, consent_mode="opt-out") == "not_asked_opt_out_tool"
    monkeypatch.setenv("CI", "true")
    assert ask("py-ci", terminal) == "not_asked_ci"
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    assert ask("py-ci", terminal) == "not_asked_opted_out"
    assert terminal.screen() == ""
    for tool in ("py-pipe", "py-ci", "py-opt-out"):
        assert telemetry_kit.consent_status(tool) == "unset"


def test_no_agent_no_question(home, terminal):
    terminal.type("y\n")
    assert ask("py-alone", terminal, agent_timeout=0.5) == "not_asked_no_agent"
    assert "Allow?" not in terminal.screen()
    assert telemetry_kit.consent_status("py-alone", 0.2) is None


def test_the_manifest_request_and_its_reply():
    assert consent.manifest_request_frame(1, "t").hex() == "0000000a2208" + "0801" + "8a0103" + "0a0174"
    # AgentReply{control{request_id 1, manifest{known, summary "s"}}}
    def reply(request_id, response):
        control = b"\x08" + bytes([request_id]) + b"\x8a\x01" + bytes([len(response)]) + response
        return b"\x12" + bytes([len(control)]) + control
    assert consent.decode_manifest_summary(reply(1, b"\x08\x01\x22\x01s"), 1) == "s"
    assert consent.decode_manifest_summary(reply(1, b"\x22\x01s"), 1) == ""  # not known: none in force
    assert consent.decode_manifest_summary(reply(2, b"\x08\x01\x22\x01s"), 1) == ""
    assert consent.decode_manifest_summary(bytes.fromhex("1a040a026e6f"), 1) == ""  # an ErrorReply


@pytest.fixture
def manifest_agent(agent):
    """The agent, enforcing the manifest with_manifest_collector publishes on the real collector
    (TK_TEST_MANIFEST_*, set by the ctest entry consent_manifest.python): the tool's Hello names
    its destination, and the agent fetches it."""
    from conftest import wait_until
    endpoint, tool = os.environ.get("TK_TEST_MANIFEST_ENDPOINT"), os.environ.get("TK_TEST_MANIFEST_TOOL")
    if not endpoint or not tool:
        pytest.skip("TK_TEST_MANIFEST_* not set (run through ctest: consent_manifest.python)")
    assert consent.manifest_summary(tool) == ""  # none before the tool said where it sends
    client = telemetry_kit.Client(tool, "1.0", endpoint, os.environ["TK_TEST_MANIFEST_KEY"])
    client.track_command("build").record()  # the Hello names the destination (the event itself waits for consent)
    client.flush(5.0)
    client.close()
    wait_until(lambda: consent.manifest_summary(tool), 30, "the agent to fetch the manifest")
    return client


def test_the_prompt_shows_the_manifest_in_the_cpp_words(manifest_agent, terminal):
    summary = os.environ["TK_TEST_MANIFEST_SUMMARY"]
    assert consent.manifest_summary(manifest_agent.tool) == summary
    terminal.type("y\n")
    # The published manifest wins over the tool's own words.
    assert telemetry_kit.ask_consent_once(manifest_agent, input_fd=terminal.tty, output_fd=terminal.tty,
                                          what_is_collected="the tool's own words") == "granted"
    screen = terminal.screen()
    assert ("%s would like to collect anonymous usage statistics: %s, sent to %s. Nothing identifies you."
            % (manifest_agent.tool, summary, manifest_agent.endpoint)) in screen, screen
    assert "the tool's own words" not in screen
