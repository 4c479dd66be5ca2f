#!/usr/bin/env python3
"""The Python client's conformance tool (tests/conformance/SCENARIOS.md): `conformance_tool.py
<scenario>` records the scenario's events through the public API only and prints one JSON line
with the client's stats."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import telemetry_kit  # noqa: E402

SCENARIOS = ("fields", "do_not_track", "tool_disabled", "do_not_track_zero", "debug", "spool_import",
             "agent_stalled", "impostor_socket", "ci_tagged", "ci_dropped", "thousand_events")


def four_events(client):
    client.track_command("build", {"target": "release", "jobs": 8, "ratio": 0.25, "cached": True, "empty": "",
                                   "negative": -42, "big": 1 << 40}).success(True).duration_us(1500).exit_code(0).record()
    client.track_command("test").success(False).duration_us(250000).exit_code(3).record()
    client.track_feature("cache.remote", {"hit": False, "zero": 0})
    client.track("custom.thing", {"text": "h\u00e9llo \u2713 \u65e5\u672c", "pi": 3.5})


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.stderr.write("usage: conformance_tool.py <scenario>; scenarios: %s\n" % ", ".join(SCENARIOS))
        return 2
    scenario = sys.argv[1]
    client = telemetry_kit.Client("conformance", "1.0.0", "http://127.0.0.1:9", "conformance-key",
                                  consent_mode="opt-out", local_only=True, allow_ci=scenario == "ci_tagged")
    flushed = None
    if scenario == "thousand_events":
        for i in range(1000):
            client.track_feature("bulk", {"i": i})
        flushed = client.flush(10.0)
    else:
        four_events(client)
        if scenario != "agent_stalled":
            flushed = client.flush(5.0)
    stats = client.stats()
    line = {"client": "python", "scenario": scenario, "mode": client.mode, "tracked": stats.tracked,
            "delivered": stats.delivered, "spooled": stats.spooled, "dropped": stats.dropped,
            "suppressed": stats.suppressed, "flushed": flushed,
            # The last statement's time: the harness measures the client's exit delay from here.
            "finished_unix_us": time.time_ns() // 1000}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
