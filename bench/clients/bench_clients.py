#!/usr/bin/env python3
"""bench/clients: the Python, Rust and Go clients, each next to its own language's limits, in the
same run (docs/benchmarks.md, "Clients in other languages").

1. Per-call cost of track_command (agent up) next to a bare socket write of a frame of the same
   size in the same language (p50 and p99 of N calls).
2. One-event process overhead: the wall time of a process that records one command and exits,
   minus the same program's run without telemetry (the language's own start-up), medians of many
   interleaved runs.

    bench/clients/bench_clients.py --agent build/daemon/tk-agent --tk build/client/tk/tk \\
        --rust build/bench/clients/rust/release/bench-client-rust --go build/bench/clients/benchclientgo

Everything runs in a temp dir (its own agent, socket and state dir); nothing touches $HOME.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_CLIENT = os.path.join(HERE, "..", "..", "client", "python")


def frame_bytes():
    """The size of the frame track_command writes for the benchmark's event."""
    sys.path.insert(0, PYTHON_CLIENT)
    import telemetry_kit as _wire
    event = _wire.encode_event(b"\1" * 16, _wire.tool_fields(b"bench-tool", b"1.0.0"), _wire.KIND_COMMAND,
                               "build", int(time.time() * 1000), {"target": "release"}, True, 1500, 0)
    return len(_wire.event_frame(event))


def run_ms(argv, env):
    """(wall, CPU) milliseconds of one run: CPU (user + system, from wait4) is what load moves least."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit("%s failed" % argv)
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def median_interval(values):
    """The median of `values` and a ~95% confidence interval for it from order statistics (the
    sign-test interval: no assumption about the noise's shape, which on a loaded machine is
    anything but normal)."""
    ordered = sorted(values)
    n = len(ordered)
    half_width = int(0.98 * n ** 0.5)  # 1.96 * sqrt(n) / 2
    low, high = max(0, n // 2 - half_width), min(n - 1, (n - 1) // 2 + half_width)
    return statistics.median(ordered), ordered[low], ordered[high]


def process_overhead(argv, env, runs):
    """Median (wall, CPU) ms of `argv none` and of `argv telemetry`, interleaved so that load hits
    both alike (the order alternates, so neither always runs first), and the median of the
    per-pair differences (wall, CPU) with its ~95% interval."""
    base, tele = [], []
    for _ in range(3):  # warm the page cache (and Python's bytecode cache) first
        run_ms(argv + ["none"], env)
        run_ms(argv + ["telemetry"], env)
    for i in range(runs):
        if i % 2:
            tele.append(run_ms(argv + ["telemetry"], env))
            base.append(run_ms(argv + ["none"], env))
        else:
            base.append(run_ms(argv + ["none"], env))
            tele.append(run_ms(argv + ["telemetry"], env))
    median = lambda runs, i: statistics.median(r[i] for r in runs)  # noqa: E731
    added = [median_interval([t[i] - b[i] for b, t in zip(base, tele)]) for i in (0, 1)]
    return (median(base, 0), median(base, 1)), (median(tele, 0), median(tele, 1)), added


def instructions(argv, env):
    """Instructions one run executes (callgrind's Ir): a count the machine's load does not move."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + argv, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
    return int(out.split("Collected :")[1].split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", required=True)
    parser.add_argument("--tk", required=True)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--rust", help="bench-client-rust (release)")
    parser.add_argument("--go", help="benchclientgo")
    parser.add_argument("--calls", type=int, default=50000)
    parser.add_argument("--only", help="comma-separated languages to run (python,rust,go); default all given")
    parser.add_argument("--no-percall", action="store_true", help="skip the per-call figures")
    parser.add_argument("--runs", type=int, default=100, help="process runs per mode and language")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the one-event process's instructions with valgrind (Python, Rust; "
                             "Go's runtime does not run under valgrind)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tk-bench-clients-")
    state, run = os.path.join(work, "home"), os.path.join(work, "run")
    for d in (state, run):
        os.makedirs(d, mode=0o700)
    sock = os.path.join(run, "agent.sock")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DO_NOT_TRACK", "TELEMETRY_KIT_DEBUG", "CI", "PYTHONDONTWRITEBYTECODE")
           and not k.endswith("_TELEMETRY_DISABLED")}
    # Bytecode cached (in the temp dir), as for an installed package: the warm-up runs compile it.
    env.update(TELEMETRY_KIT_HOME=state, TELEMETRY_KIT_SOCKET=sock, HOME=work, PYTHONPATH=PYTHON_CLIENT,
               PYTHONPYCACHEPREFIX=os.path.join(work, "pycache"))
    for xdg in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        env.pop(xdg, None)
    log = open(os.path.join(work, "agent.log"), "wb")
    agent = subprocess.Popen([args.agent, "--socket", sock, "--home", state, "--log-level", "warn"], stderr=log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(sock)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the agent did not start")
                time.sleep(0.01)
        subprocess.run([args.tk, "--socket", sock, "consent", "grant", "bench-tool"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        size = frame_bytes()
        languages = [("python", [args.python, os.path.join(HERE, "python", "bench_client.py")])]
        if args.rust:
            languages.append(("rust", [args.rust]))
        if args.go:
            languages.append(("go", [args.go]))
        if args.only:
            languages = [entry for entry in languages if entry[0] in args.only.split(",")]
        load = os.getloadavg()[0]
        print("machine: %d cores, load %.1f at start; frame %d bytes; %d calls; %d process runs per mode"
              % (os.cpu_count(), load, size, args.calls, args.runs))
        print("%-7s %-34s %-30s %s" % ("", "track_command p50 / p99", "bare socket write p50 / p99", "ratio p50"))
        for name, argv in ([] if args.no_percall else languages):
            out = subprocess.run(argv + ["percall", str(args.calls), str(size)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print("%-7s %8.2f / %8.2f us (%d delivered) %10.2f / %8.2f us        %.2f" % (
                name, r["track_p50_ns"] / 1e3, r["track_p99_ns"] / 1e3, r["delivered"],
                r["write_p50_ns"] / 1e3, r["write_p99_ns"] / 1e3, r["track_p50_ns"] / max(r["write_p50_ns"], 1)))
        print("%-7s %-28s %-28s %s" % ("", "start-up wall / CPU", "one event, agent up", "added wall / CPU"))
        for name, argv in languages:
            base, tele, added = process_overhead(argv, env, args.runs)
            print("%-7s %8.2f / %6.2f ms %14.2f / %6.2f ms %12.2f / %5.2f ms (%.0f%% / %.0f%% of start-up)" % (
                name, base[0], base[1], tele[0], tele[1], tele[0] - base[0], tele[1] - base[1],
                100 * (tele[0] - base[0]) / base[0], 100 * (tele[1] - base[1]) / max(base[1], 0.001)))
            print("%-7s paired (median of per-run differences, ~95%% interval): wall %+.2f ms [%+.2f, %+.2f], "
                  "CPU %+.2f ms [%+.2f, %+.2f]; load now %.1f" % ((name,) + added[0] + added[1] + (os.getloadavg()[0],)))
        if args.instructions:
            print("%-7s %-20s %-20s %s" % ("", "start-up instr.", "one event instr.", "added (median of 3)"))
            for name, argv in languages:
                if name == "go":
                    continue
                runs = [(instructions(argv + ["none"], env), instructions(argv + ["telemetry"], env)) for _ in range(3)]
                base = statistics.median(r[0] for r in runs)
                added = statistics.median(r[1] - r[0] for r in runs)
                print("%-7s %14d %20d %16d (%.1f%% of start-up)" % (name, base, base + added, added, 100 * added / base))
        print("load at end %.1f" % os.getloadavg()[0])
    finally:
        agent.terminate()
        agent.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
