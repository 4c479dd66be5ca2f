//! A small CLI instrumented with telemetry-kit: each run records one command event named by the
//! subcommand, with the names of the flags given (never their values), its duration and its
//! outcome — also when the command panics.
//!
//!     cargo run --offline --manifest-path examples/rust-cli/Cargo.toml -- hello --shout world
//!     TELEMETRY_KIT_DEBUG=1 cargo run --offline --manifest-path examples/rust-cli/Cargo.toml -- count --to 3

use telemetry_kit::{Client, Config};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().cloned().unwrap_or_default();
    let flags: Vec<&str> = args.iter().filter(|a| a.starts_with("--")).map(|a| a.trim_start_matches('-')).collect();
    let flag_names: Vec<&str> = flags.iter().map(|f| f.split('=').next().unwrap_or("")).collect();

    // The three lines: a client, and a guard that records the command when it goes out of scope.
    let config = Config::new("greet", env!("CARGO_PKG_VERSION"));
    // Opt-in (the default): ask once on a terminal, never in CI or when opted out; the agent keeps the answer.
    telemetry_kit::ask_consent_once(&config, &telemetry_kit::ConsentPrompt::default());
    let telemetry = Client::new(config);
    let code = {
        let mut run = telemetry.command(command.as_str()).attr("options", flag_names.join(","));
        let code = match command.as_str() {
            "hello" => {
                let name = args.iter().skip(1).find(|a| !a.starts_with("--")).map_or("world", String::as_str);
                let text = format!("hello, {name}");
                println!("{}", if flag_names.contains(&"shout") { text.to_uppercase() } else { text });
                0
            }
            "count" => {
                let to = args.iter().find_map(|a| a.strip_prefix("--to=")).and_then(|n| n.parse().ok()).unwrap_or(3);
                println!("{}", (1..=to).map(|i: u32| i.to_string()).collect::<Vec<_>>().join(" "));
                0
            }
            _ => {
                eprintln!("usage: greet hello [--shout] NAME | greet count [--to=N]");
                2
            }
        };
        run.exit_code(code);
        code
    };
    drop(telemetry); // hands the events over (at most 100 ms) before exiting
    std::process::exit(code);
}
