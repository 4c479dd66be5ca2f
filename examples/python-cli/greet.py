#!/usr/bin/env python3
"""A small argparse CLI instrumented with telemetry-kit: each run records one command event named
by the subcommand (`greet hello`, `greet count`), with the names of the options given — never
their values — its duration and its outcome.

    PYTHONPATH=client/python examples/python-cli/greet.py hello --shout world
    TELEMETRY_KIT_DEBUG=1 PYTHONPATH=client/python examples/python-cli/greet.py count --to 3
"""

import argparse
import sys

import telemetry_kit


def main(argv=None):
    parser = argparse.ArgumentParser(prog="greet", description="Greets, or counts.")
    sub = parser.add_subparsers(dest="command", required=True)
    hello = sub.add_parser("hello", help="say hello")
    hello.add_argument("name")
    hello.add_argument("--shout", action="store_true")
    count = sub.add_parser("count", help="count to N")
    count.add_argument("--to", type=int, default=3)
    args = parser.parse_args(argv)

    # The three lines: a client (once), and one tracked run. Its events reach the agent at exit.
    telemetry = telemetry_kit.Client("greet", "1.0.0")
    # Opt-in (the default): ask once on a terminal, never in CI or when opted out; the agent keeps the answer.
    telemetry_kit.ask_consent_once(telemetry)
    with telemetry_kit.track_argparse(telemetry, parser, argv):
        if args.command == "hello":
            text = "hello, %s" % args.name
            print(text.upper() if args.shout else text)
        else:
            if args.to < 0:
                sys.exit(2)  # recorded as a failure with exit code 2
            print(" ".join(str(i) for i in range(1, args.to + 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
