//! What the client reads from its process, once, when a Client is made: opt-out signals, debug
//! mode and the per-user paths (the rules of common/src/paths.cpp).

use std::env;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The environment variables whose presence marks a CI run (common/include/tk/common/ci.hpp).
pub const CI_VARIABLES: [&str; 18] = [
    "CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
    "JENKINS_URL", "BUILDKITE", "TEAMCITY_VERSION", "TF_BUILD", "APPVEYOR", "CODEBUILD_BUILD_ID",
    "BITBUCKET_BUILD_NUMBER", "DRONE", "SEMAPHORE", "HEROKU_TEST_RUN_ID",
];

const MAX_SOCKET_PATH_BYTES: usize = if cfg!(target_os = "macos") { 104 } else { 108 };

extern "C" {
    fn geteuid() -> u32;
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() }
}

/// `my-cli` -> `MY_CLI_TELEMETRY_DISABLED`: A-Z and 0-9 kept (upper-cased), everything else `_`.
pub fn tool_disabled_variable(tool: &str) -> String {
    let mut name: String =
        tool.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    name.push_str("_TELEMETRY_DISABLED");
    name
}

/// Set and not empty, `0` or `false` (any case): the opt-out switches' rule.
pub fn truthy(value: Option<&OsString>) -> bool {
    // A value that is not UTF-8 is neither empty nor "0"/"false": truthy.
    match value.map(|v| v.to_string_lossy()) {
        Some(v) => !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"),
        None => false,
    }
}

pub struct Signals {
    pub do_not_track: Option<OsString>,
    pub tool_disabled: Option<OsString>,
    pub ci: Vec<&'static str>,
}

pub fn signals(tool: &str) -> Signals {
    Signals {
        do_not_track: env::var_os("DO_NOT_TRACK"),
        tool_disabled: env::var_os(tool_disabled_variable(tool)),
        ci: CI_VARIABLES.iter().copied().filter(|name| env::var_os(name).is_some()).collect(),
    }
}

pub fn debug_requested() -> bool {
    truthy(env::var_os("TELEMETRY_KIT_DEBUG").as_ref())
}

fn non_empty(name: &str) -> Option<PathBuf> {
    env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home() -> PathBuf {
    non_empty("HOME").unwrap_or_else(|| PathBuf::from(format!("/tmp/telemetry-kit-home-{}", euid())))
}

/// TELEMETRY_KIT_HOME, else $XDG_STATE_HOME/telemetry-kit (~/.local/state/telemetry-kit); macOS:
/// ~/Library/Application Support/telemetry-kit.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = non_empty("TELEMETRY_KIT_HOME") {
        return dir;
    }
    if cfg!(target_os = "macos") {
        return home().join("Library/Application Support/telemetry-kit");
    }
    match non_empty("XDG_STATE_HOME") {
        Some(state) => state.join("telemetry-kit"),
        None => home().join(".local/state/telemetry-kit"),
    }
}

/// TELEMETRY_KIT_SOCKET, else $XDG_RUNTIME_DIR/telemetry-kit/agent.sock, else agent.sock in the
/// state dir, else (too long for sockaddr_un) /tmp/telemetry-kit-<uid>/agent.sock.
pub fn socket_path(state: &std::path::Path) -> PathBuf {
    if let Some(socket) = non_empty("TELEMETRY_KIT_SOCKET") {
        return socket;
    }
    if let Some(runtime) = non_empty("XDG_RUNTIME_DIR") {
        return runtime.join("telemetry-kit/agent.sock");
    }
    let in_state = state.join("agent.sock");
    if in_state.as_os_str().as_bytes().len() < MAX_SOCKET_PATH_BYTES {
        return in_state;
    }
    PathBuf::from(format!("/tmp/telemetry-kit-{}/agent.sock", euid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tool_variable_and_truthiness() {
        assert_eq!(tool_disabled_variable("my-cli.v2"), "MY_CLI_V2_TELEMETRY_DISABLED");
        for (value, expected) in [("1", true), ("yes", true), ("", false), ("0", false), ("FALSE", false)] {
            assert_eq!(truthy(Some(&OsString::from(value))), expected, "{value}");
        }
        assert!(!truthy(None));
    }
}
