//! First-run consent for opt-in tools (the C++ client's `telemetry_kit/consent.hpp`, in Rust): ask
//! the person once, on a terminal only, never in CI, never when `DO_NOT_TRACK` or the tool's own
//! opt-out is set, and record the answer with the agent, whose per-tool consent is the record of
//! "asked before" (`tk consent grant|deny TOOL` changes it later).
//!
//! ```no_run
//! let config = telemetry_kit::Config::new("my-cli", env!("CARGO_PKG_VERSION"));
//! telemetry_kit::ask_consent_once(&config, &telemetry_kit::ConsentPrompt::default()); // before Client::new
//! let telemetry = telemetry_kit::Client::new(config);
//! ```
//!
//! The decisions are pure functions (`may_ask`, `question`, `is_yes`); the rest moves bytes.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::env::{self, CI_VARIABLES};
use crate::{transport, wire, Config, ConsentMode};

/// A tool's consent as the agent records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Unset,
    Granted,
    Denied,
}

/// What `ask_consent_once` did (the C++ client's `ConsentOutcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentOutcome {
    /// Asked now; the person said yes (recorded).
    Granted,
    /// Asked now; the person said no or just pressed Enter (recorded).
    Denied,
    /// Answered before: not asked again.
    AlreadyGranted,
    /// Answered before (or every tool is switched off): not asked again.
    AlreadyDenied,
    /// The input or the output is not a terminal.
    NotAskedNoTty,
    /// A CI variable is set.
    NotAskedCi,
    /// `DO_NOT_TRACK` or `<TOOL>_TELEMETRY_DISABLED` is set: the answer is known.
    NotAskedOptedOut,
    /// The tool is opt-out: nothing to ask.
    NotAskedOptOutTool,
    /// The agent cannot be reached, so no answer could be recorded.
    NotAskedNoAgent,
    /// Asked, but no answer came in time: nothing recorded; asked again next run.
    NoAnswer,
}

impl ConsentOutcome {
    /// The name the C++ client's `to_string` gives, e.g. `not_asked_ci`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentOutcome::Granted => "granted",
            ConsentOutcome::Denied => "denied",
            ConsentOutcome::AlreadyGranted => "already_granted",
            ConsentOutcome::AlreadyDenied => "already_denied",
            ConsentOutcome::NotAskedNoTty => "not_asked_no_tty",
            ConsentOutcome::NotAskedCi => "not_asked_ci",
            ConsentOutcome::NotAskedOptedOut => "not_asked_opted_out",
            ConsentOutcome::NotAskedOptOutTool => "not_asked_opt_out_tool",
            ConsentOutcome::NotAskedNoAgent => "not_asked_no_agent",
            ConsentOutcome::NoAnswer => "no_answer",
        }
    }
}

/// Where and how long to ask.
#[derive(Clone, Debug)]
pub struct ConsentPrompt {
    /// Where the answer is read (must be a terminal); default 0 (stdin).
    pub input_fd: i32,
    /// Where the question is written (must be a terminal); default 2 (stderr).
    pub output_fd: i32,
    /// What is collected, in one sentence; empty: the default, which describes command and feature
    /// events. The manifest's short form, if the agent enforces one, wins.
    pub what_is_collected: String,
    /// For each request to the agent; default 1 s.
    pub agent_timeout: Duration,
    /// How long to wait for the person; default 2 minutes.
    pub answer_timeout: Duration,
}

impl Default for ConsentPrompt {
    fn default() -> Self {
        ConsentPrompt {
            input_fd: 0,
            output_fd: 2,
            what_is_collected: String::new(),
            agent_timeout: Duration::from_secs(1),
            answer_timeout: Duration::from_secs(120),
        }
    }
}

const DEFAULT_WHAT: &str =
    "which commands and features you use, how long they take, whether they succeed, and the tool's version";
const MAX_ANSWER_BYTES: usize = 64;
const ACTION_STATUS: u64 = 0;
const ACTION_GRANT: u64 = 1;
const ACTION_DENY: u64 = 2;

// ---- decisions (pure) ----

/// The outcome that forbids asking, or None if asking is allowed. The opt-outs come first:
/// `DO_NOT_TRACK` wins over everything. `var` reads one environment variable.
pub fn may_ask(
    tool: &str,
    mode: ConsentMode,
    var: &dyn Fn(&str) -> Option<OsString>,
    input_is_tty: bool,
    output_is_tty: bool,
) -> Option<ConsentOutcome> {
    if env::truthy(var("DO_NOT_TRACK").as_ref()) || env::truthy(var(&env::tool_disabled_variable(tool)).as_ref()) {
        return Some(ConsentOutcome::NotAskedOptedOut);
    }
    if mode == ConsentMode::OptOut {
        return Some(ConsentOutcome::NotAskedOptOutTool);
    }
    if CI_VARIABLES.iter().any(|name| var(name).is_some()) {
        return Some(ConsentOutcome::NotAskedCi);
    }
    if !(input_is_tty && output_is_tty) {
        return Some(ConsentOutcome::NotAskedNoTty);
    }
    None
}

/// The question, worded as the C++ client's.
pub fn question(config: &Config, what_is_collected: &str) -> String {
    let what = if what_is_collected.is_empty() { DEFAULT_WHAT } else { what_is_collected };
    let destination = if config.endpoint.is_empty() || config.local_only {
        "kept on this machine".to_string()
    } else {
        format!("sent to {}", config.endpoint)
    };
    format!(
        "{} would like to collect anonymous usage statistics: {what}, {destination}. Nothing identifies you.\nAllow? [y/N] ",
        config.tool
    )
}

/// `y` or `yes` in any case, spaces ignored; anything else (Enter included) is no.
pub fn is_yes(answer: &str) -> bool {
    let word: String = answer.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    word == "y" || word == "yes"
}

fn confirmation(tool: &str, granted: bool) -> String {
    if granted {
        format!("Thank you: usage statistics are on. Change this any time with `tk consent deny {tool}`.\n")
    } else {
        format!("Usage statistics are off. Change this any time with `tk consent grant {tool}`.\n")
    }
}

// ---- the agent: one control request per connection ----

/// Sends one framed control request to our own agent; the reply's payload, or None (no agent, no
/// whole answer in time).
fn agent_request(frame: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let state = env::state_dir();
    let mut stream = transport::connect_trusted(&env::socket_path(&state)).ok()?;
    stream.set_nonblocking(false).ok()?;
    let left = |deadline: Instant| deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    stream.set_write_timeout(Some(left(deadline)?)).ok()?;
    stream.write_all(frame).ok()?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if data.len() >= 4 {
            let length = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
            if length > wire::MAX_FRAME_BYTES {
                return None;
            }
            if data.len() >= 4 + length {
                data.truncate(4 + length);
                return Some(data.split_off(4));
            }
        }
        stream.set_read_timeout(Some(left(deadline)?)).ok()?;
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Sends one consent request to our own agent; the tool's consent it answers with, or None (no
/// agent, no answer in time, an error such as a refused change).
fn request(action: u64, tool: &str, timeout: Duration) -> Option<Consent> {
    let payload = agent_request(&wire::consent_request_frame(1, action, tool), timeout)?;
    match wire::decode_consent_reply(&payload, 1, tool)? {
        1 => Some(Consent::Granted),
        2 => Some(Consent::Denied),
        _ => Some(Consent::Unset),
    }
}

/// The short form of the manifest the agent enforces for `tool` (what the consent prompt shows);
/// None if it enforces none or cannot be reached.
pub fn manifest_summary(tool: &str, timeout: Duration) -> Option<String> {
    let payload = agent_request(&wire::manifest_request_frame(1, tool), timeout)?;
    wire::decode_manifest_summary(&payload, 1)
}

/// The agent's record for `tool`; None if the agent cannot be reached.
pub fn consent_status(tool: &str, timeout: Duration) -> Option<Consent> {
    request(ACTION_STATUS, tool, timeout)
}

/// Records the person's first answer for `tool` with the agent. False if the agent cannot be
/// reached or refuses: a tool records an answer only while the person has not chosen for it (and a
/// grant only while not every tool is switched off); changing a choice is `tk consent`'s job.
pub fn record_consent(tool: &str, granted: bool, timeout: Duration) -> bool {
    request(if granted { ACTION_GRANT } else { ACTION_DENY }, tool, timeout).is_some()
}

// ---- the terminal (libc, linked anyway) ----

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

extern "C" {
    fn isatty(fd: i32) -> i32;
    fn poll(fds: *mut PollFd, count: std::os::raw::c_ulong, timeout_ms: i32) -> i32;
    fn read(fd: i32, buffer: *mut u8, count: usize) -> isize;
    fn write(fd: i32, buffer: *const u8, count: usize) -> isize;
}

fn is_terminal(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { isatty(fd) == 1 }
}

fn write_all(fd: i32, text: &str) {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: `rest` is valid for `rest.len()` bytes.
        let n = unsafe { write(fd, rest.as_ptr(), rest.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// One line from the terminal; None on timeout, "" at end of input.
fn read_answer(fd: i32, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        let mut p = PollFd { fd, events: 1, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { poll(&mut p, 1, left.as_millis().clamp(1, 60_000) as i32) };
        if ready < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if ready < 0 {
            return None;
        }
        if ready == 0 {
            continue; // the loop's deadline decides
        }
        let mut byte = 0u8;
        // SAFETY: one byte of valid memory.
        let n = unsafe { read(fd, &mut byte, 1) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 || byte == b'\n' {
            return Some(String::from_utf8_lossy(&line).into_owned());
        }
        if line.len() < MAX_ANSWER_BYTES {
            line.push(byte);
        }
    }
}

/// Asks "may <tool> collect anonymous usage statistics? [y/N]" once, on a terminal, never in CI,
/// and records the answer with the agent. Blocks only while the person is being asked; never
/// panics into the tool.
pub fn ask_consent_once(config: &Config, prompt: &ConsentPrompt) -> ConsentOutcome {
    let refusal = may_ask(
        &config.tool,
        config.consent_mode,
        &|name| std::env::var_os(name),
        is_terminal(prompt.input_fd),
        is_terminal(prompt.output_fd),
    );
    if let Some(outcome) = refusal {
        return outcome;
    }
    match consent_status(&config.tool, prompt.agent_timeout) {
        None => return ConsentOutcome::NotAskedNoAgent,
        Some(Consent::Granted) => return ConsentOutcome::AlreadyGranted,
        Some(Consent::Denied) => return ConsentOutcome::AlreadyDenied,
        Some(Consent::Unset) => {}
    }
    // The tool's published manifest, which the agent enforces, says it best; else the tool's words.
    let what = manifest_summary(&config.tool, prompt.agent_timeout).unwrap_or_else(|| prompt.what_is_collected.clone());
    write_all(prompt.output_fd, &question(config, &what));
    let answer = match read_answer(prompt.input_fd, prompt.answer_timeout) {
        Some(answer) => answer,
        None => {
            write_all(prompt.output_fd, "\nNo answer: nothing is collected; you will be asked again.\n");
            return ConsentOutcome::NoAnswer;
        }
    };
    let granted = is_yes(&answer);
    if !record_consent(&config.tool, granted, prompt.agent_timeout) {
        // No agent, or the person chose meanwhile (`tk consent`), whose choice stands.
        write_all(
            prompt.output_fd,
            "Could not record your answer (the telemetry agent did not respond or already has a choice); nothing changes.\n",
        );
        return ConsentOutcome::NotAskedNoAgent;
    }
    write_all(prompt.output_fd, &confirmation(&config.tool, granted));
    if granted {
        ConsentOutcome::Granted
    } else {
        ConsentOutcome::Denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn opt_outs_win_over_everything() {
        let ask = |mode, env: &dyn Fn(&str) -> Option<OsString>, tty_in, tty_out| may_ask("my-cli", mode, env, tty_in, tty_out);
        assert_eq!(ask(ConsentMode::OptIn, &vars(&[]), true, true), None);
        assert_eq!(
            ask(ConsentMode::OptIn, &vars(&[("DO_NOT_TRACK", "1"), ("CI", "true")]), true, true),
            Some(ConsentOutcome::NotAskedOptedOut)
        );
        assert_eq!(
            ask(ConsentMode::OptOut, &vars(&[("MY_CLI_TELEMETRY_DISABLED", "yes")]), true, true),
            Some(ConsentOutcome::NotAskedOptedOut)
        );
        assert_eq!(ask(ConsentMode::OptIn, &vars(&[("DO_NOT_TRACK", "0")]), true, true), None); // falsy: no opt-out
        assert_eq!(ask(ConsentMode::OptOut, &vars(&[]), true, true), Some(ConsentOutcome::NotAskedOptOutTool));
        assert_eq!(ask(ConsentMode::OptIn, &vars(&[("GITHUB_ACTIONS", "true")]), true, true), Some(ConsentOutcome::NotAskedCi));
        assert_eq!(ask(ConsentMode::OptIn, &vars(&[]), false, true), Some(ConsentOutcome::NotAskedNoTty));
        assert_eq!(ask(ConsentMode::OptIn, &vars(&[]), true, false), Some(ConsentOutcome::NotAskedNoTty));
    }

    #[test]
    fn question_and_answers() {
        let config = Config::new("my-cli", "1.0");
        assert_eq!(
            question(&config, ""),
            "my-cli would like to collect anonymous usage statistics: which commands and features you use, how long \
             they take, whether they succeed, and the tool's version, kept on this machine. Nothing identifies you.\n\
             Allow? [y/N] "
        );
        let remote = config.clone().collector("https://t.example.com", "k");
        assert!(question(&remote, "").contains("sent to https://t.example.com."));
        assert!(question(&remote.clone().local_only(true), "").contains("kept on this machine."));
        assert!(question(&remote, "the build targets").contains("statistics: the build targets, sent"));
        for yes in ["y", "Y", "yes", " YES \r", "y e s"] {
            assert!(is_yes(yes), "{yes}");
        }
        for no in ["", "n", "no", "yess", "ok"] {
            assert!(!is_yes(no), "{no}");
        }
        assert_eq!(ConsentOutcome::NotAskedOptOutTool.as_str(), "not_asked_opt_out_tool");
    }
}
