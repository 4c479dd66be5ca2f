//! The Rust client against the real agent (and, for the spool, without one). The client reads
//! the process environment, so every test holds ENV_LOCK.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{no_binaries, spool_records, Agent, Home, Json, ENV_LOCK};
use telemetry_kit::{Client, Config, Mode};

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn attr<'a>(event: &'a Json, key: &str) -> (&'a str, &'a Json) {
    match event.get("attributes").get(key) {
        Json::Object(map) => {
            let (kind, value) = map.iter().next().unwrap();
            (kind.as_str(), value)
        }
        other => panic!("no attribute {key}: {other:?}"),
    }
}

fn by_name<'a>(events: &'a [Json], name: &str) -> &'a Json {
    events.iter().find(|e| e.get("name").str() == name).unwrap_or_else(|| panic!("no event {name}"))
}

#[test]
fn fields_and_attribute_types_arrive_as_sent() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("fields");
    let agent = Agent::start(&home);
    agent.grant("rs-tool");
    let client = Client::new(Config::new("rs-tool", "1.2.3"));
    assert_eq!(client.mode(), Mode::Sending);
    client
        .track_command("build")
        .attr("target", "release")
        .attr("jobs", 8)
        .attr("ratio", 0.25)
        .attr("cached", false)
        .attr("offset", -5)
        .success(false)
        .duration(Duration::from_millis(1500))
        .exit_code(2)
        .record();
    client.track_feature("cache.remote").attr("hits", 0u32).record();
    client.track("custom.thing").record();
    assert!(client.flush(Duration::from_secs(5)));
    assert_eq!(client.stats().delivered, 3);
    let events = agent.wait_for_events("rs-tool", 3);
    let build = by_name(&events, "build");
    assert_eq!(build.get("kind").str(), "EVENT_KIND_COMMAND");
    assert_eq!(build.get("tool_version").str(), "1.2.3");
    assert_eq!(build.get("success"), &Json::Bool(false));
    assert_eq!(build.get("duration_us").str(), "1500000");
    assert_eq!(build.get("exit_code"), &Json::Number(2.0));
    assert_eq!(attr(build, "target"), ("string_value", &Json::Str("release".into())));
    assert_eq!(attr(build, "jobs"), ("int_value", &Json::Str("8".into())));
    assert_eq!(attr(build, "ratio"), ("double_value", &Json::Number(0.25)));
    assert_eq!(attr(build, "cached"), ("bool_value", &Json::Bool(false)));
    assert_eq!(attr(build, "offset"), ("int_value", &Json::Str("-5".into())));
    assert_eq!(by_name(&events, "cache.remote").get("kind").str(), "EVENT_KIND_FEATURE");
    assert_eq!(attr(by_name(&events, "cache.remote"), "hits"), ("int_value", &Json::Str("0".into())));
    assert_eq!(by_name(&events, "custom.thing").get("kind").str(), "EVENT_KIND_CUSTOM");
    assert_eq!(by_name(&events, "custom.thing").get("success"), &Json::Null);
}

#[test]
fn the_guard_records_duration_and_outcome_even_on_panic() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("guard");
    let agent = Agent::start(&home);
    agent.grant("rs-guard");
    let client = Client::new(Config::new("rs-guard", "1"));
    {
        let _command = client.command("ok").attr("target", "x");
        std::thread::sleep(Duration::from_millis(2)); // something to measure, not synchronisation
    }
    {
        let mut command = client.command("exit-code");
        command.exit_code(4);
    }
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _command = client.command("panics");
        panic!("boom");
    }));
    assert!(panicked.is_err());
    assert!(client.flush(Duration::from_secs(5)));
    let events = agent.wait_for_events("rs-guard", 3);
    assert_eq!(by_name(&events, "ok").get("success"), &Json::Bool(true));
    assert!(by_name(&events, "ok").get("duration_us").str().parse::<u64>().unwrap() >= 2000);
    assert_eq!(by_name(&events, "exit-code").get("success"), &Json::Bool(false));
    assert_eq!(by_name(&events, "exit-code").get("exit_code"), &Json::Number(4.0));
    assert_eq!(by_name(&events, "panics").get("success"), &Json::Bool(false));
}

#[test]
fn do_not_track_sends_nothing_and_creates_nothing() {
    let _env = lock();
    let home = Home::new("dnt");
    for (variable, value) in [("DO_NOT_TRACK", "1"), ("RS_OFF_TELEMETRY_DISABLED", "true")] {
        std::env::set_var(variable, value);
        let client = Client::new(Config::new("rs-off", "1"));
        assert_eq!(client.mode(), Mode::Disabled);
        client.track_feature("x").record();
        assert!(client.flush(Duration::from_secs(1)));
        assert_eq!(client.stats().suppressed, 1);
        drop(client);
        std::env::remove_var(variable);
    }
    std::env::set_var("DO_NOT_TRACK", "0");
    assert_eq!(Client::new(Config::new("rs-off", "1")).mode(), Mode::Sending);
    std::env::remove_var("DO_NOT_TRACK");
    assert!(!home.spool().exists());
}

#[test]
fn no_agent_spools_and_the_agent_imports_each_event_once() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("spool");
    let mut agent = Agent::start(&home);
    agent.grant("rs-spool");
    agent.stop();
    {
        let client = Client::new(Config::new("rs-spool", "1"));
        for i in 0..20 {
            client.track_feature(format!("f{i}")).record();
        }
    } // dropped: no agent, so everything goes to the spool
    assert_eq!(spool_records(&home.spool()), 20);
    agent.restart();
    let events = agent.wait_for_events("rs-spool", 20);
    let mut ids: Vec<&str> = events.iter().map(|e| e.get("id").str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[test]
fn a_thousand_events_arrive_exactly_once() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("many");
    let agent = Agent::start(&home);
    agent.grant("rs-many");
    let client = Client::new(Config::new("rs-many", "1"));
    for i in 0..1000 {
        client.track("e").attr("i", i).record();
    }
    assert!(client.flush(Duration::from_secs(10)));
    drop(client);
    let events = agent.wait_for_events("rs-many", 1000);
    let mut values: Vec<i64> =
        events.iter().map(|e| attr(e, "i").1.str().parse().unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, (0..1000).collect::<Vec<i64>>());
}

#[test]
fn drop_hands_over_to_the_running_agent_from_a_short_process() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("exit");
    let agent = Agent::start(&home);
    agent.grant("conformance");
    let out = Command::new(env!("CARGO_BIN_EXE_tk-conformance-rust")).arg("agent_stalled").output().unwrap();
    assert!(out.status.success());
    let events = agent.wait_for_events("conformance", 4);
    assert_eq!(by_name(&events, "test").get("exit_code"), &Json::Number(3.0));
    assert!(!home.spool().exists());
}

#[test]
fn a_stalled_listener_does_not_hold_up_exit() {
    let _env = lock();
    let home = Home::new("stall");
    let listener = std::os::unix::net::UnixListener::bind(&home.socket).unwrap();
    let started = Instant::now();
    let client = Client::new(Config::new("rs-stall", "1"));
    let payload = "x".repeat(200);
    for _ in 0..3000 {
        client.track("e").attr("payload", payload.as_str()).record();
    }
    drop(client);
    assert!(started.elapsed() < Duration::from_secs(5)); // liveness only; speed is in bench/clients
    assert_eq!(spool_records(&home.spool()), 3000, "nothing was acknowledged: every event went to the spool");
    drop(listener);
}

#[test]
fn a_socket_in_a_directory_others_can_write_is_never_used() {
    let _env = lock();
    let home = Home::new("impostor");
    let shared = home.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = shared.join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::env::set_var("TELEMETRY_KIT_SOCKET", &socket);
    let client = Client::new(Config::new("rs-impostor", "1"));
    client.track_feature("x").record();
    assert!(client.flush(Duration::from_secs(5)));
    assert_eq!(client.stats().spooled, 1);
    assert!(listener.accept().is_err(), "nobody connected");
}
