"""telemetry-kit for Python tools: record which commands and features are used, hand them to
the per-user agent (or its spool), and never get in the tool's way. Standard library only.

    import telemetry_kit
    telemetry = telemetry_kit.Client("my-cli", "1.2.0", "https://telemetry.example.com", "ingest-key")
    with telemetry.track_command("build", {"target": "release"}):
        build()

Importing this package does no I/O; a Client reads its environment once, when it is made.
"""

from .client import Client, Command, Stats

__all__ = ["Client", "Command", "Stats", "track_argparse", "track_click"]
__version__ = "0.1.0"


def __getattr__(name):
    # The integrations import argparse (and click when used): only a tool that uses them pays.
    if name in ("track_argparse", "track_click"):
        from . import integrations
        return getattr(integrations, name)
    raise AttributeError("module 'telemetry_kit' has no attribute %r" % name)
