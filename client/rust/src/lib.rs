//! telemetry-kit for Rust tools: record which commands and features are used and hand them to
//! the per-user agent (or its spool file), without ever getting in the tool's way. std only.
//!
//! ```no_run
//! let telemetry = telemetry_kit::Client::new(
//!     telemetry_kit::Config::new("my-cli", env!("CARGO_PKG_VERSION")).collector("https://telemetry.example.com", "key"));
//! {
//!     let _command = telemetry.command("build").attr("target", "release"); // duration and outcome, even on panic
//!     // ... run the command ...
//! }
//! telemetry.track_feature("cache.remote").record();
//! ```
//!
//! Every call is fire-and-forget and never panics: events go to a bounded queue that is handed to
//! the agent by a background thread (started only if the process lives longer than 50 ms) or when
//! the `Client` is dropped, which waits at most 100 ms and spools what the agent did not take.

mod consent;
mod core;
mod env;
mod transport;
mod wire;

pub use consent::{
    ask_consent_once, consent_status, manifest_summary, record_consent, Consent, ConsentOutcome, ConsentPrompt,
};

use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the tool asks for consent (the agent applies it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentMode {
    /// Nothing is kept until the person grants (the default).
    OptIn,
    /// Kept unless the person denies.
    OptOut,
}

/// Who the tool is and where its events go.
#[derive(Clone, Debug)]
pub struct Config {
    pub tool: String,
    pub version: String,
    /// Collector base URL; empty keeps events on this machine.
    pub endpoint: String,
    pub ingest_key: String,
    pub consent_mode: ConsentMode,
    /// Keep (tagged) events from CI runs.
    pub allow_ci: bool,
    /// Never forward, even with an endpoint.
    pub local_only: bool,
    /// The tool sends only under its manifest published on the collector: the agent holds its
    /// events until the collector answers, never storing them unchecked (docs/privacy.md).
    pub manifest_required: bool,
}

impl Config {
    pub fn new(tool: impl Into<String>, version: impl Into<String>) -> Self {
        Config {
            tool: tool.into(),
            version: version.into(),
            endpoint: String::new(),
            ingest_key: String::new(),
            consent_mode: ConsentMode::OptIn,
            allow_ci: false,
            local_only: false,
            manifest_required: false,
        }
    }
    /// Sets the collector and the tool's ingest key there.
    pub fn collector(mut self, url: impl Into<String>, key: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self.ingest_key = key.into();
        self
    }
    pub fn consent_mode(mut self, mode: ConsentMode) -> Self {
        self.consent_mode = mode;
        self
    }
    pub fn allow_ci(mut self, allow: bool) -> Self {
        self.allow_ci = allow;
        self
    }
    pub fn local_only(mut self, local: bool) -> Self {
        self.local_only = local;
        self
    }
    pub fn manifest_required(mut self, required: bool) -> Self {
        self.manifest_required = required;
        self
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v as f64)
    }
}
macro_rules! int_value {
    ($($t:ty),*) => {$(impl From<$t> for Value { fn from(v: $t) -> Self { Value::Int(v as i64) } })*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32, isize);
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map(Value::Int).unwrap_or(Value::Float(v as f64))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}

/// What happened to the events of one `Client` so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events recorded by the tool.
    pub tracked: u64,
    /// Acknowledged by the agent (stored, or dropped by its policy).
    pub delivered: u64,
    /// Written to the spool file for the agent to import.
    pub spooled: u64,
    /// Lost: queue full, too large, or the spool unwritable or full.
    pub dropped: u64,
    /// Not sent because of DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED or debug mode.
    pub suppressed: u64,
    /// Connections to the agent after the first.
    pub reconnects: u64,
}

/// What the client does with events, decided once from the environment when it is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// To the agent (or the spool).
    Sending,
    /// TELEMETRY_KIT_DEBUG=1: each event is printed to stderr as JSON, nothing is sent.
    Debug,
    /// DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED is set (or no tool name): nothing is sent.
    Disabled,
}

/// The telemetry client of one tool. `Send + Sync`; one per process is typical.
pub struct Client {
    core: Arc<core::Core>,
}

impl Client {
    /// The longest `drop` waits to hand queued events to the agent before spooling them.
    pub const SHUTDOWN_DEADLINE: Duration = Duration::from_millis(100);

    /// Reads the environment once (opt-out switches, debug mode, paths). Never fails: on any
    /// problem the client is disabled.
    pub fn new(config: Config) -> Self {
        Client { core: core::Core::new(config) }
    }

    /// A command (or subcommand) ran: set its outcome on the returned event, which is recorded
    /// when dropped (at the end of the statement for a temporary) or at `record()`.
    pub fn track_command(&self, name: impl Into<String>) -> EventBuilder<'_> {
        EventBuilder::new(self, wire::KIND_COMMAND, name.into())
    }
    /// A feature was used.
    pub fn track_feature(&self, name: impl Into<String>) -> EventBuilder<'_> {
        EventBuilder::new(self, wire::KIND_FEATURE, name.into())
    }
    /// Anything else the tool defines.
    pub fn track(&self, name: impl Into<String>) -> EventBuilder<'_> {
        EventBuilder::new(self, wire::KIND_CUSTOM, name.into())
    }
    /// A guard that records one command run when dropped: its duration, and its outcome —
    /// failure if `fail()` or a non-zero `exit_code()` was set, or if a panic is unwinding.
    pub fn command(&self, name: impl Into<String>) -> CommandGuard<'_> {
        CommandGuard { event: self.track_command(name), start: Instant::now(), success: None }
    }

    /// Waits until every event recorded before this call is acknowledged by the agent or written
    /// to the spool. True if so within `deadline`.
    pub fn flush(&self, deadline: Duration) -> bool {
        self.core.flush(deadline)
    }
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }
    pub fn mode(&self) -> Mode {
        self.core.mode
    }
}

impl Drop for Client {
    /// Hands over what is queued, waiting at most `SHUTDOWN_DEADLINE`; what the agent did not
    /// take by then goes to the spool. Never waits for the background thread.
    fn drop(&mut self) {
        self.core.shutdown();
    }
}

/// An event being built; recorded when dropped or at `record()`.
#[must_use = "the event is recorded when this is dropped: call .record() to make that explicit"]
pub struct EventBuilder<'a> {
    client: &'a Client,
    draft: Option<core::Draft>,
}

impl<'a> EventBuilder<'a> {
    fn new(client: &'a Client, kind: u64, name: String) -> Self {
        EventBuilder {
            client,
            draft: Some(core::Draft { kind, name, attributes: Vec::new(), success: None, duration_us: None, exit_code: None }),
        }
    }
    /// Adds (or replaces) an attribute.
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set_attr(key.into(), value.into());
        self
    }
    fn set_attr(&mut self, key: String, value: Value) {
        if let Some(draft) = self.draft.as_mut() {
            match draft.attributes.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => draft.attributes.push((key, value)),
            }
        }
    }
    pub fn success(mut self, succeeded: bool) -> Self {
        if let Some(draft) = self.draft.as_mut() {
            draft.success = Some(succeeded);
        }
        self
    }
    pub fn duration(mut self, elapsed: Duration) -> Self {
        if let Some(draft) = self.draft.as_mut() {
            draft.duration_us = Some(i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX));
        }
        self
    }
    pub fn exit_code(mut self, code: i32) -> Self {
        if let Some(draft) = self.draft.as_mut() {
            draft.exit_code = Some(code);
        }
        self
    }
    /// Records the event now.
    pub fn record(mut self) {
        self.submit();
    }
    /// Drops the event without recording it.
    pub fn discard(mut self) {
        self.draft = None;
    }
    fn submit(&mut self) {
        if let Some(draft) = self.draft.take() {
            self.client.core.submit(draft);
        }
    }
}

impl Drop for EventBuilder<'_> {
    fn drop(&mut self) {
        self.submit();
    }
}

/// Records one command run when dropped (`Client::command`).
pub struct CommandGuard<'a> {
    event: EventBuilder<'a>,
    start: Instant,
    success: Option<bool>,
}

impl<'a> CommandGuard<'a> {
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.event.set_attr(key.into(), value.into());
        self
    }
    /// Adds an attribute to a guard held in a variable.
    pub fn set_attr(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.event.set_attr(key.into(), value.into());
    }
    /// Marks the command failed.
    pub fn fail(&mut self) {
        self.success = Some(false);
    }
    /// Sets the outcome explicitly (overrides exit-code and panic inference).
    pub fn success(&mut self, succeeded: bool) {
        self.success = Some(succeeded);
    }
    /// The command's exit code; non-zero means failure unless `success()` says otherwise.
    pub fn exit_code(&mut self, code: i32) {
        if let Some(draft) = self.event.draft.as_mut() {
            draft.exit_code = Some(code);
        }
    }
}

impl Drop for CommandGuard<'_> {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        if let Some(draft) = self.event.draft.as_mut() {
            draft.duration_us = Some(i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX));
            let inferred = !std::thread::panicking() && draft.exit_code.map_or(true, |code| code == 0);
            draft.success = Some(self.success.unwrap_or(inferred));
        }
        self.event.submit();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_can_be_shared_between_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<super::Client>();
    }
}
