"""The Python side of bench/clients (driven by bench_clients.py):

    bench_client.py none                  exits (the interpreter's own start-up: the baseline)
    bench_client.py telemetry             imports telemetry_kit, tracks one command, exits
    bench_client.py percall N BYTES       N track_command calls (agent up), then N bare socket
                                          writes of a BYTES-byte frame; prints JSON (ns per call)
"""

import sys


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def percall(n, frame_bytes):
    import socket
    import threading
    import time
    import telemetry_kit

    client = telemetry_kit.Client("bench-tool", "1.0.0")
    clock = time.perf_counter_ns
    track = []
    for _ in range(n):
        start = clock()
        client.track_command("build", {"target": "release"}).success(True).duration_us(1500).exit_code(0).record()
        track.append(clock() - start)
        if len(track) % 4096 == 0:
            client.flush(5.0)  # keep the queue below its bound: every call is a real hand-over
    client.flush(10.0)
    # The physical limit: a bare sendall() of a frame of the same size on a Unix socket whose
    # other end a thread drains.
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def drain():
        while b.recv(1 << 16):
            pass
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    frame = b"\0" * frame_bytes
    write = []
    for _ in range(n):
        start = clock()
        a.sendall(frame)
        write.append(clock() - start)
    a.close()
    reader.join(5)
    stats = client.stats()
    print('{"language":"python","track_p50_ns":%d,"track_p99_ns":%d,"write_p50_ns":%d,"write_p99_ns":%d,'
          '"delivered":%d,"spooled":%d,"dropped":%d}' % (
              percentile(track, 0.5), percentile(track, 0.99), percentile(write, 0.5), percentile(write, 0.99),
              stats.delivered, stats.spooled, stats.dropped))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "none"
    if mode == "telemetry":
        import telemetry_kit
        client = telemetry_kit.Client("bench-tool", "1.0.0")
        client.track_command("build", {"target": "release"}).success(True).duration_us(1200).record()
    elif mode == "percall":
        percall(int(sys.argv[2]), int(sys.argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
