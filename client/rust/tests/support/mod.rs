//! The real agent for the Rust client's tests: a private home per test (TELEMETRY_KIT_HOME and
//! TELEMETRY_KIT_SOCKET in a temp dir), tk-agent and tk from the build (TK_AGENT_BINARY and
//! TK_CLI_BINARY, set by the ctest entry), and a small JSON reader for `tk events --json`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client reads the process environment: tests that set it run one at a time.
pub static ENV_LOCK: Mutex<()> = Mutex::new(());

pub fn wait_until<T>(timeout: Duration, what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub struct Home {
    pub dir: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
}

impl Home {
    /// A fresh temp dir, exported as the client's home and socket; opt-out and CI variables cleared.
    pub fn new(name: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("tk-rust-{}-{}", name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = dir.join("home");
        let run = dir.join("run");
        for d in [&state, &run] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let socket = run.join("agent.sock");
        std::env::set_var("TELEMETRY_KIT_HOME", &state);
        std::env::set_var("TELEMETRY_KIT_SOCKET", &socket);
        std::env::set_var("HOME", &dir);
        for (name, _) in std::env::vars() {
            if name == "DO_NOT_TRACK" || name == "CI" || name == "TELEMETRY_KIT_DEBUG" || name.ends_with("_TELEMETRY_DISABLED")
                || name == "GITHUB_ACTIONS" || name == "BUILD_NUMBER" || name == "RUN_ID" {
                std::env::remove_var(name);
            }
        }
        Home { dir, state, socket }
    }
    pub fn spool(&self) -> PathBuf {
        self.state.join("spool")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable).map(PathBuf::from).filter(|p| p.exists())
}

/// True (and a note) when the build's programs are not there: run through ctest.
pub fn no_binaries() -> bool {
    let missing = binary("TK_AGENT_BINARY").is_none() || binary("TK_CLI_BINARY").is_none();
    if missing {
        eprintln!("skipped: TK_AGENT_BINARY/TK_CLI_BINARY not set (run through ctest)");
    }
    missing
}

pub struct Agent {
    child: Option<Child>,
    socket: PathBuf,
    state: PathBuf,
}

impl Agent {
    pub fn start(home: &Home) -> Agent {
        let mut agent = Agent { child: None, socket: home.socket.clone(), state: home.state.clone() };
        agent.restart();
        agent
    }
    pub fn restart(&mut self) {
        let log = std::fs::File::create(self.state.parent().unwrap().join("agent.log")).unwrap();
        let child = Command::new(binary("TK_AGENT_BINARY").unwrap())
            .args(["--socket".as_ref(), self.socket.as_os_str(), "--home".as_ref(), self.state.as_os_str()])
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let socket = self.socket.clone();
        wait_until(Duration::from_secs(15), "the agent's socket", || UnixStream::connect(&socket).ok());
    }
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: the agent commits and exits.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    pub fn tk(&self, args: &[&str]) -> String {
        let out = Command::new(binary("TK_CLI_BINARY").unwrap()).arg("--socket").arg(&self.socket).args(args).output().unwrap();
        assert!(out.status.success(), "tk {:?}: {}", args, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
    pub fn grant(&self, tool: &str) {
        self.tk(&["consent", "grant", tool]);
    }
    pub fn events(&self, tool: &str) -> Vec<Json> {
        let text = self.tk(&["events", "--tool", tool, "--limit", "50000", "--json"]);
        match parse(&text).get("events") {
            Json::Array(events) => events.clone(),
            _ => Vec::new(),
        }
    }
    pub fn wait_for_events(&self, tool: &str, count: usize) -> Vec<Json> {
        wait_until(Duration::from_secs(10), &format!("{count} events of {tool}"), || {
            let events = self.events(tool);
            if events.len() >= count {
                Some(events)
            } else {
                None
            }
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Counts the intact records of a spool file (magic, length, CRC-32 checked by the tests' own reader).
pub fn spool_records(path: &Path) -> usize {
    let data = std::fs::read(path).unwrap_or_default();
    let (mut pos, mut count) = (0, 0);
    while pos < data.len() {
        assert_eq!(&data[pos..pos + 4], b"TKS1", "bad magic at {pos}");
        let length = u32::from_be_bytes(data[pos + 4..pos + 8].try_into().unwrap()) as usize;
        pos += 12 + length;
        assert!(pos <= data.len(), "torn record");
        count += 1;
    }
    count
}

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

static NULL: Json = Json::Null;

impl Json {
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(map) => map.get(key).unwrap_or(&NULL),
            _ => &NULL,
        }
    }
    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => "",
        }
    }
}

pub fn parse(text: &str) -> Json {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    value(&chars, &mut pos)
}

fn skip(c: &[char], pos: &mut usize) {
    while *pos < c.len() && c[*pos].is_whitespace() {
        *pos += 1;
    }
}

fn value(c: &[char], pos: &mut usize) -> Json {
    skip(c, pos);
    match c[*pos] {
        '{' => {
            *pos += 1;
            let mut map = BTreeMap::new();
            loop {
                skip(c, pos);
                if c[*pos] == '}' {
                    *pos += 1;
                    return Json::Object(map);
                }
                let key = match value(c, pos) {
                    Json::Str(s) => s,
                    other => panic!("bad key {other:?}"),
                };
                skip(c, pos);
                *pos += 1; // ':'
                map.insert(key, value(c, pos));
                skip(c, pos);
                if c[*pos] == ',' {
                    *pos += 1;
                }
            }
        }
        '[' => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                skip(c, pos);
                if c[*pos] == ']' {
                    *pos += 1;
                    return Json::Array(items);
                }
                items.push(value(c, pos));
                skip(c, pos);
                if c[*pos] == ',' {
                    *pos += 1;
                }
            }
        }
        '"' => {
            *pos += 1;
            let mut s = String::new();
            while c[*pos] != '"' {
                if c[*pos] == '\\' {
                    *pos += 1;
                    match c[*pos] {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'u' => {
                            let hex: String = c[*pos + 1..*pos + 5].iter().collect();
                            s.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap_or('?'));
                            *pos += 4;
                        }
                        other => s.push(other),
                    }
                } else {
                    s.push(c[*pos]);
                }
                *pos += 1;
            }
            *pos += 1;
            Json::Str(s)
        }
        't' => {
            *pos += 4;
            Json::Bool(true)
        }
        'f' => {
            *pos += 5;
            Json::Bool(false)
        }
        'n' => {
            *pos += 4;
            Json::Null
        }
        _ => {
            let start = *pos;
            while *pos < c.len() && "+-0123456789.eE".contains(c[*pos]) {
                *pos += 1;
            }
            Json::Number(c[start..*pos].iter().collect::<String>().parse().unwrap())
        }
    }
}
