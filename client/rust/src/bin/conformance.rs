//! The Rust client's conformance tool (tests/conformance/SCENARIOS.md): `tk-conformance-rust
//! <scenario>` records the scenario's events through the public API only and prints one JSON
//! line with the client's stats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemetry_kit::{Client, Config, ConsentMode, Mode};

const SCENARIOS: [&str; 11] = [
    "fields", "do_not_track", "tool_disabled", "do_not_track_zero", "debug", "spool_import", "agent_stalled",
    "impostor_socket", "ci_tagged", "ci_dropped", "thousand_events",
];

fn four_events(client: &Client) {
    client
        .track_command("build")
        .attr("target", "release")
        .attr("jobs", 8)
        .attr("ratio", 0.25)
        .attr("cached", true)
        .attr("empty", "")
        .attr("negative", -42)
        .attr("big", 1i64 << 40)
        .success(true)
        .duration(Duration::from_micros(1500))
        .exit_code(0)
        .record();
    client.track_command("test").success(false).duration(Duration::from_micros(250_000)).exit_code(3).record();
    client.track_feature("cache.remote").attr("hit", false).attr("zero", 0).record();
    client.track("custom.thing").attr("text", "h\u{e9}llo \u{2713} \u{65e5}\u{672c}").attr("pi", 3.5).record();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 || !SCENARIOS.contains(&args[1].as_str()) {
        eprintln!("usage: tk-conformance-rust <scenario>; scenarios: {}", SCENARIOS.join(", "));
        std::process::exit(2);
    }
    let scenario = args[1].as_str();
    let client = Client::new(
        Config::new("conformance", "1.0.0")
            .collector("http://127.0.0.1:9", "conformance-key")
            .consent_mode(ConsentMode::OptOut)
            .local_only(true)
            .allow_ci(scenario == "ci_tagged"),
    );
    let flushed = if scenario == "thousand_events" {
        for i in 0..1000 {
            client.track_feature("bulk").attr("i", i).record();
        }
        Some(client.flush(Duration::from_secs(10)))
    } else {
        four_events(&client);
        if scenario == "agent_stalled" {
            None
        } else {
            Some(client.flush(Duration::from_secs(5)))
        }
    };
    let stats = client.stats();
    let mode = match client.mode() {
        Mode::Sending => "sending",
        Mode::Debug => "debug",
        Mode::Disabled => "disabled",
    };
    let flushed = flushed.map_or("null".to_string(), |f| f.to_string());
    // The last statement's time: the harness measures the client's exit delay from here.
    let finished_unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    println!(
        "{{\"client\":\"rust\",\"scenario\":\"{scenario}\",\"mode\":\"{mode}\",\"tracked\":{},\"delivered\":{},\"spooled\":{},\"dropped\":{},\"suppressed\":{},\"flushed\":{flushed},\"finished_unix_us\":{finished_unix_us}}}",
        stats.tracked, stats.delivered, stats.spooled, stats.dropped, stats.suppressed
    );
    drop(client); // hands over what is left (bounded), before the process exits
}
