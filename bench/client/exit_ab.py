#!/usr/bin/env python3
"""A/B of a client change on the one-event process with the agent up (docs/benchmarks.md).

Usage: bench/client/exit_ab.py BUILD_DIR OLD_LIB_DIR [runs=300]
BUILD_DIR/bench/client/bench_client_one_event is run with the library of OLD_LIB_DIR (a copy of
libtelemetry_kit.so* from before the change, through LD_LIBRARY_PATH: the binary's RUNPATH yields
to it) as "before", with its own build's library as "after", and without telemetry ("none"),
alternating process by process so load on a shared machine hits all three alike. A real tk-agent
runs in a temp dir (AB_COMMIT_WAIT_US=N sets its store.commit_wait_us). Prints medians of wall
time and of the child's CPU (user + sys)."""
import os, subprocess, sys, tempfile, time, statistics
build, old_lib, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 300
root = tempfile.mkdtemp(prefix="tk-ab-")
home, run = os.path.join(root, "home"), os.path.join(root, "run")
os.makedirs(home, 0o700); os.makedirs(run, 0o700)
sock = os.path.join(run, "agent.sock")
env = {k: v for k, v in os.environ.items() if k not in ("DO_NOT_TRACK", "TELEMETRY_KIT_DEBUG", "CI", "BENCH_TOOL_TELEMETRY_DISABLED", "LD_LIBRARY_PATH")}
env.update(TELEMETRY_KIT_HOME=home, TELEMETRY_KIT_SOCKET=sock, XDG_RUNTIME_DIR=run, HOME=root)
extra = []
if os.environ.get("AB_COMMIT_WAIT_US"):
    conf = os.path.join(root, "agent.conf"); open(conf, "w").write("[store]\ncommit_wait_us = %s\n" % os.environ["AB_COMMIT_WAIT_US"]); extra = ["--config", conf]
agent = subprocess.Popen([f"{build}/daemon/tk-agent", "--socket", sock, "--home", home, "--log-level", "warn"] + extra, env=env)
deadline = time.monotonic() + 10
while not os.path.exists(sock) and time.monotonic() < deadline: time.sleep(0.01)
subprocess.run([f"{build}/client/tk/tk", "consent", "grant", "bench-tool"], env=env, check=True, stdout=subprocess.DEVNULL)
binary = f"{build}/bench/client/bench_client_one_event"
variants = {"none": (["none"], env), "before": (["telemetry"], dict(env, LD_LIBRARY_PATH=old_lib)),
            "after": (["telemetry"], env)}
def once(args, e):
    t = time.perf_counter_ns(); pid = os.posix_spawn(binary, [binary] + args, e)
    _, status, ru = os.wait4(pid, 0); wall = time.perf_counter_ns() - t
    assert status == 0
    return wall / 1000, (ru.ru_utime + ru.ru_stime) * 1e6
res = {k: ([], []) for k in variants}
for i in range(4):
    for k, (a, e) in variants.items(): once(a, e)
for i in range(runs):
    for k, (a, e) in variants.items():
        w, c = once(a, e); res[k][0].append(w); res[k][1].append(c)
agent.terminate(); agent.wait()
out = subprocess.run([f"{build}/client/tk/tk", "status"], env=env, capture_output=True, text=True).stdout
med = {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in res.items()}
print(f"one-event process, agent up, {runs} runs each, alternating none/before/after, medians; load {os.getloadavg()[0]:.1f}")
for k in ("before", "after"):
    print(f"  {k:6}: wall {med[k][0]:7.0f} us ({med[k][0]-med['none'][0]:+6.0f} vs none)   cpu {med[k][1]:6.0f} us ({med[k][1]-med['none'][1]:+5.0f} vs none)")
print(f"  none  : wall {med['none'][0]:7.0f} us   cpu {med['none'][1]:6.0f} us")
print(f"  after - before: wall {med['after'][0]-med['before'][0]:+6.0f} us, cpu {med['after'][1]-med['before'][1]:+5.0f} us")
spool = os.path.join(home, "spool")
print(f"  spool after the runs: {os.path.getsize(spool) if os.path.exists(spool) else 0} bytes")
import shutil; shutil.rmtree(root)
