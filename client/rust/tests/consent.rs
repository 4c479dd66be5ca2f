//! The consent helper on a real pseudo-terminal against the real agent: the answer is recorded
//! where `tk consent` sees it, asked once, never without a terminal, in CI or when opted out.
//! The helper reads the process environment, so every test holds ENV_LOCK.

mod support;

use std::time::Duration;

use support::{no_binaries, wait_until, Agent, Home, ENV_LOCK};
use telemetry_kit::{
    ask_consent_once, consent_status, manifest_summary, record_consent, Client, Config, Consent, ConsentOutcome,
    ConsentPrompt,
};

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" {
    fn posix_openpt(flags: i32) -> i32;
    fn grantpt(fd: i32) -> i32;
    fn unlockpt(fd: i32) -> i32;
    fn ptsname(fd: i32) -> *const std::os::raw::c_char;
    fn open(path: *const std::os::raw::c_char, flags: i32, ...) -> i32;
    fn close(fd: i32) -> i32;
    fn read(fd: i32, buffer: *mut u8, count: usize) -> isize;
    fn write(fd: i32, buffer: *const u8, count: usize) -> isize;
    fn pipe(fds: *mut i32) -> i32;
    fn fcntl(fd: i32, command: i32, ...) -> i32;
}
const O_RDWR: i32 = 2;
const O_NOCTTY: i32 = if cfg!(target_os = "linux") { 0o400 } else { 0x20000 };
const F_SETFL: i32 = 4;
const O_NONBLOCK: i32 = if cfg!(target_os = "linux") { 0o4000 } else { 0x4 };

/// A pseudo-terminal: the helper gets its tty end for reading and writing; the test types the
/// answer into the other end and reads what the helper wrote.
struct Terminal {
    master: i32,
    tty: i32,
}

impl Terminal {
    fn new() -> Terminal {
        // SAFETY: plain libc calls on descriptors this struct owns; ptsname's buffer is copied at once.
        unsafe {
            let master = posix_openpt(O_RDWR | O_NOCTTY);
            assert!(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "no pseudo-terminal");
            let name = std::ffi::CStr::from_ptr(ptsname(master)).to_owned();
            let tty = open(name.as_ptr(), O_RDWR | O_NOCTTY);
            assert!(tty >= 0);
            fcntl(master, F_SETFL, O_NONBLOCK);
            Terminal { master, tty }
        }
    }
    fn type_text(&self, text: &str) {
        // SAFETY: `text` is valid for its length.
        assert_eq!(unsafe { write(self.master, text.as_ptr(), text.len()) }, text.len() as isize);
    }
    /// What the helper wrote so far (and the terminal's echo of what was typed).
    fn screen(&self) -> String {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            // SAFETY: `chunk` is valid for its length; the master is non-blocking.
            let n = unsafe { read(self.master, chunk.as_mut_ptr(), chunk.len()) };
            if n <= 0 {
                return String::from_utf8_lossy(&out).into_owned();
            }
            out.extend_from_slice(&chunk[..n as usize]);
        }
    }
    fn prompt(&self) -> ConsentPrompt {
        ConsentPrompt { input_fd: self.tty, output_fd: self.tty, ..ConsentPrompt::default() }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // SAFETY: descriptors owned by this struct.
        unsafe {
            close(self.master);
            close(self.tty);
        }
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn asks_once_on_a_terminal_and_the_agent_keeps_the_answer() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("consent-yes");
    let agent = Agent::start(&home);
    let terminal = Terminal::new();
    let config = Config::new("rs-consent", "1.0").collector("https://t.example.com", "key");
    terminal.type_text("y\n");
    assert_eq!(ask_consent_once(&config, &terminal.prompt()), ConsentOutcome::Granted);
    let screen = terminal.screen();
    assert!(screen.contains("rs-consent would like to collect anonymous usage statistics"), "{screen}");
    assert!(screen.contains("sent to https://t.example.com."), "{screen}");
    assert!(screen.contains("tk consent deny rs-consent"), "{screen}");
    assert_eq!(consent_status("rs-consent", SECOND), Some(Consent::Granted));
    assert!(agent.tk(&["consent", "status"]).contains("rs-consent"));
    // Answered: not asked again (nothing typed: it would wait for an answer otherwise).
    let prompt = ConsentPrompt { answer_timeout: Duration::from_secs(5), ..terminal.prompt() };
    assert_eq!(ask_consent_once(&config, &prompt), ConsentOutcome::AlreadyGranted);
    assert!(!terminal.screen().contains("Allow?"));
}

#[test]
fn enter_is_no_and_the_person_choice_stands() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("consent-no");
    let _agent = Agent::start(&home);
    let terminal = Terminal::new();
    let config = Config::new("rs-no", "1.0");
    terminal.type_text("\n");
    assert_eq!(ask_consent_once(&config, &terminal.prompt()), ConsentOutcome::Denied);
    assert_eq!(consent_status("rs-no", SECOND), Some(Consent::Denied));
    assert_eq!(ask_consent_once(&config, &terminal.prompt()), ConsentOutcome::AlreadyDenied);
    assert!(!record_consent("rs-no", true, SECOND), "a tool cannot overwrite the person's choice");
    assert_eq!(consent_status("rs-no", SECOND), Some(Consent::Denied));
}

#[test]
fn no_answer_records_nothing() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("consent-silent");
    let _agent = Agent::start(&home);
    let terminal = Terminal::new();
    let prompt = ConsentPrompt { answer_timeout: Duration::from_millis(200), ..terminal.prompt() };
    assert_eq!(ask_consent_once(&Config::new("rs-silent", "1.0"), &prompt), ConsentOutcome::NoAnswer);
    assert!(terminal.screen().contains("asked again"));
    assert_eq!(consent_status("rs-silent", SECOND), Some(Consent::Unset));
}

#[test]
fn never_asks_without_a_terminal_in_ci_or_opted_out() {
    let _env = lock();
    if no_binaries() {
        return;
    }
    let home = Home::new("consent-never");
    let _agent = Agent::start(&home);
    let terminal = Terminal::new();
    let mut fds = [0i32; 2];
    // SAFETY: `fds` holds two ints.
    assert_eq!(unsafe { pipe(fds.as_mut_ptr()) }, 0);
    let piped = ConsentPrompt { input_fd: fds[0], ..terminal.prompt() };
    assert_eq!(ask_consent_once(&Config::new("rs-pipe", "1.0"), &piped), ConsentOutcome::NotAskedNoTty);
    // SAFETY: the pipe's descriptors, owned here.
    unsafe {
        close(fds[0]);
        close(fds[1]);
    }
    let opt_out = Config::new("rs-opt-out", "1.0").consent_mode(telemetry_kit::ConsentMode::OptOut);
    assert_eq!(ask_consent_once(&opt_out, &terminal.prompt()), ConsentOutcome::NotAskedOptOutTool);
    std::env::set_var("CI", "true");
    assert_eq!(ask_consent_once(&Config::new("rs-ci", "1.0"), &terminal.prompt()), ConsentOutcome::NotAskedCi);
    std::env::set_var("DO_NOT_TRACK", "1");
    assert_eq!(ask_consent_once(&Config::new("rs-ci", "1.0"), &terminal.prompt()), ConsentOutcome::NotAskedOptedOut);
    std::env::remove_var("CI");
    std::env::remove_var("DO_NOT_TRACK");
    assert_eq!(terminal.screen(), "");
    for tool in ["rs-pipe", "rs-ci", "rs-opt-out"] {
        assert_eq!(consent_status(tool, SECOND), Some(Consent::Unset), "{tool}");
    }
}

#[test]
fn no_agent_no_question() {
    let _env = lock();
    let _home = Home::new("consent-alone");
    let terminal = Terminal::new();
    terminal.type_text("y\n");
    assert_eq!(ask_consent_once(&Config::new("rs-alone", "1.0"), &terminal.prompt()), ConsentOutcome::NotAskedNoAgent);
    assert!(!terminal.screen().contains("Allow?"));
    assert_eq!(consent_status("rs-alone", Duration::from_millis(200)), None);
}

/// The agent enforcing the manifest with_manifest_collector publishes on the real collector
/// (TK_TEST_MANIFEST_*, set by the ctest entry consent_manifest.rust): the tool's Hello names its
/// destination, and the agent fetches it. Run alone (`cargo test manifest` under that entry).
#[test]
fn the_prompt_shows_the_manifest_in_the_cpp_words() {
    let _env = lock();
    let (endpoint, tool) = match (std::env::var("TK_TEST_MANIFEST_ENDPOINT"), std::env::var("TK_TEST_MANIFEST_TOOL")) {
        (Ok(endpoint), Ok(tool)) => (endpoint, tool),
        _ => return, // not under consent_manifest.rust
    };
    if no_binaries() {
        return;
    }
    let home = Home::new("consent-manifest");
    let _agent = Agent::start(&home);
    let key = std::env::var("TK_TEST_MANIFEST_KEY").unwrap_or_default();
    let config = Config::new(tool.as_str(), "1.0").collector(endpoint.as_str(), key.as_str());
    assert_eq!(manifest_summary(&tool, SECOND), None, "a manifest before the tool said where it sends");
    {
        let client = Client::new(config.clone());
        client.track_command("build").record(); // the Hello names the destination (the event waits for consent)
        client.flush(Duration::from_secs(5));
    }
    let summary = wait_until(Duration::from_secs(30), "the agent to fetch the manifest", || manifest_summary(&tool, SECOND));
    assert_eq!(summary, std::env::var("TK_TEST_MANIFEST_SUMMARY").unwrap_or_default(), "the C++ words");
    let terminal = Terminal::new();
    terminal.type_text("y\n");
    // The published manifest wins over the tool's own words.
    let prompt = ConsentPrompt { what_is_collected: "the tool's own words".into(), ..terminal.prompt() };
    assert_eq!(ask_consent_once(&config, &prompt), ConsentOutcome::Granted);
    let screen = terminal.screen();
    let want = format!(
        "{tool} would like to collect anonymous usage statistics: {summary}, sent to {endpoint}. Nothing identifies you."
    );
    assert!(screen.contains(&want), "{screen}");
    assert!(!screen.contains("the tool's own words"), "{screen}");
}
