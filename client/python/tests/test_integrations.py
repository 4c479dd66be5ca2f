"""argparse and click: command names and option names, never values."""

import argparse

import pytest

import telemetry_kit
from telemetry_kit.integrations import argparse_command_and_options


def make_parser():
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command")
    remote = sub.add_parser("remote")
    remote_sub = remote.add_subparsers(dest="action")
    add = remote_sub.add_parser("add", aliases=["a"])
    add.add_argument("name")
    add.add_argument("--force", action="store_true")
    add.add_argument("--tag", nargs="*")
    return parser


@pytest.mark.parametrize("argv, expected", [
    (["remote", "add", "secret-name", "--force"], (["remote", "add"], ["force"])),
    (["-vv", "--config", "remote", "remote", "a", "x"], (["remote", "add"], ["config", "verbose"])),
    (["--config=/home/me/x", "remote", "add", "n", "--tag", "t1", "t2"], (["remote", "add"], ["config", "tag"])),
    ([], ([], [])),
    (["remote", "add", "--", "--force"], (["remote", "add"], [])),
])
def test_argparse_names_without_values(argv, expected):
    assert argparse_command_and_options(make_parser(), argv) == expected


def test_track_argparse_records_names_only(agent):
    agent.grant("py-argparse")
    client = telemetry_kit.Client("py-argparse", "1")
    parser = make_parser()
    argv = ["--config", "/home/alice/secret.toml", "remote", "add", "alice-remote", "--force"]
    parser.parse_args(argv)
    with telemetry_kit.track_argparse(client, parser, argv):
        pass
    assert client.flush(5.0)
    (event,) = agent.wait_for_events("py-argparse", 1)
    assert event["name"] == "remote add"
    assert event["attributes"]["options"]["string_value"] == "config,force"
    assert "alice" not in str(event) and "secret" not in str(event)


def test_track_click_records_each_command_with_option_names(agent):
    click = pytest.importorskip("click")
    from click.testing import CliRunner
    agent.grant("py-click")
    client = telemetry_kit.Client("py-click", "1")

    @click.group()
    @click.option("--profile")
    def cli(profile):
        pass

    @cli.command()
    @click.option("--dry-run", is_flag=True)
    @click.option("--target", default="debug")
    @click.argument("path")
    def build(dry_run, target, path):
        if path == "bad":
            raise click.ClickException("bad path")

    telemetry_kit.track_click(client, cli)
    runner = CliRunner()
    assert runner.invoke(cli, ["--profile", "alice", "build", "--dry-run", "/home/alice/x"]).exit_code == 0
    assert runner.invoke(cli, ["build", "bad"]).exit_code == 1
    assert client.flush(5.0)
    events = sorted(agent.wait_for_events("py-click", 2), key=lambda e: e.get("success", False))
    assert [e["name"] for e in events] == ["build", "build"]
    assert events[0]["success"] is False
    assert "options" not in events[0]["attributes"]
    assert events[1]["success"] is True
    assert events[1]["attributes"]["options"]["string_value"] == "dry-run,profile"
    assert "alice" not in str(events)
