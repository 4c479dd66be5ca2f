"""argparse and click: one command event per run, named by the (sub)commands chosen, with the
names of the options given — never their values, never positional arguments."""

import argparse as _argparse
import sys


def _option_name(spellings):
    """An option's canonical name: its first long spelling without dashes (`--dry-run` -> `dry-run`)."""
    longs = [s for s in spellings if s.startswith("--")]
    return (longs or list(spellings))[0].lstrip("-")


def argparse_command_and_options(parser, argv=None):
    """(["remote", "add"], ["force", "verbose"]) for `tool remote add --force -v NAME URL`:
    walks the tokens the way argparse does (subparsers, option arity) without keeping any value."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    names, options = [], []
    current, i = parser, 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            break
        if token.startswith("-") and token != "-":
            spelled = token.split("=", 1)[0]
            action = current._option_string_actions.get(spelled)
            attached = "=" in token
            if action is None and not spelled.startswith("--") and len(spelled) > 2:
                action = current._option_string_actions.get(spelled[:2])  # -vv, -ofile
                attached = True
            if action is None:
                continue
            name = _option_name(action.option_strings)
            if name not in options:
                options.append(name)
            # Skip the option's values: a fixed count, or (nargs ?, *, +) what does not look like an option.
            nargs = action.nargs
            if attached or nargs == 0:
                continue
            if nargs is None:
                i += 1
            elif isinstance(nargs, int):
                i += nargs
            else:
                while i < len(tokens) and not tokens[i].startswith("-"):
                    i += 1
            continue
        sub = next((a for a in current._actions if isinstance(a, _argparse._SubParsersAction)), None)
        if sub is not None and token in sub.choices:
            chosen = sub.choices[token]
            # An alias names the same parser: record the parser's own name (its prog's last word).
            names.append(chosen.prog.split()[-1] if chosen.prog else token)
            current = chosen
    return names, sorted(options)


def track_argparse(client, parser, argv=None, attributes=None):
    """A Command (context manager) for this run of `parser`'s program:

        args = parser.parse_args()
        with track_argparse(telemetry, parser):
            run(args)
    """
    names, options = argparse_command_and_options(parser, argv)
    attrs = dict(attributes or {})
    if options:
        attrs["options"] = ",".join(options)
    return client.track_command(" ".join(names) or client.tool, attrs)


def track_click(client, cli):
    """Instruments a click command or group (recursively): each invocation of a command is one
    command event named by its path below the root (`remote add`), with the names of the options
    given on the command line or by environment — never their values. Returns `cli`."""
    import click
    from click.core import ParameterSource

    def instrument(command, path):
        original = command.invoke

        def invoke(ctx):
            # A group with a subcommand to run: the subcommand records the run (click has not
            # resolved it yet, but left its words in protected_args).
            if isinstance(command, click.Group) and (getattr(ctx, "protected_args", None) or ctx.args):
                return original(ctx)
            options = set()
            level = ctx
            while level is not None:
                for param in level.command.params:
                    if isinstance(param, click.Option) and level.get_parameter_source(param.name) in (
                            ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
                        options.add(_option_name(param.opts))
                level = level.parent
            attrs = {"options": ",".join(sorted(options))} if options else {}
            with client.track_command(" ".join(path) or client.tool, attrs):
                return original(ctx)

        command.invoke = invoke
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                instrument(sub, path + [sub.name or name])

    instrument(cli, [])
    return cli
