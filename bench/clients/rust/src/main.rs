//! The Rust side of bench/clients (driven by bench_clients.py):
//!   bench-client-rust none              exits (the baseline: the same binary without telemetry)
//!   bench-client-rust telemetry         tracks one command, exits (Drop hands it over)
//!   bench-client-rust percall N BYTES   N track_command calls (agent up), then N bare socket
//!                                       writes of a BYTES-byte frame; prints JSON (ns per call)

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use telemetry_kit::{Client, Config};

fn percentile(values: &mut [u64], p: f64) -> u64 {
    values.sort_unstable();
    values[((values.len() as f64 * p) as usize).min(values.len() - 1)]
}

fn percall(n: usize, frame_bytes: usize) {
    let client = Client::new(Config::new("bench-tool", "1.0.0"));
    let mut track = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        client.track_command("build").attr("target", "release").success(true).duration(Duration::from_micros(1500)).exit_code(0).record();
        track.push(start.elapsed().as_nanos() as u64);
        if (i + 1) % 4096 == 0 {
            client.flush(Duration::from_secs(5)); // keep the queue below its bound
        }
    }
    client.flush(Duration::from_secs(10));
    // The physical limit: a bare write_all() of a frame of the same size on a Unix socket whose
    // other end a thread drains.
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buffer = vec![0u8; 1 << 16];
        while matches!(b.read(&mut buffer), Ok(n) if n > 0) {}
    });
    let frame = vec![0u8; frame_bytes];
    let mut write = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        a.write_all(&frame).unwrap();
        write.push(start.elapsed().as_nanos() as u64);
    }
    drop(a);
    reader.join().unwrap();
    let stats = client.stats();
    println!(
        "{{\"language\":\"rust\",\"track_p50_ns\":{},\"track_p99_ns\":{},\"write_p50_ns\":{},\"write_p99_ns\":{},\"delivered\":{},\"spooled\":{},\"dropped\":{}}}",
        percentile(&mut track, 0.5), percentile(&mut track, 0.99), percentile(&mut write, 0.5), percentile(&mut write, 0.99),
        stats.delivered, stats.spooled, stats.dropped
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("telemetry") => {
            let client = Client::new(Config::new("bench-tool", "1.0.0"));
            client.track_command("build").attr("target", "release").success(true).duration(Duration::from_micros(1200)).record();
        }
        Some("percall") => percall(args[2].parse().unwrap(), args[3].parse().unwrap()),
        _ => {}
    }
}
