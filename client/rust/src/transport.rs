//! The two ways out of the process: the agent's socket (only our own agent's) and the spool
//! file. Both only move bytes; what to send when is decided in core.rs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::env::euid;
use crate::wire;

pub const SPOOL_MAX_FILE_BYTES: u64 = 16 << 20;
const SPOOL_LOCK_WAIT: Duration = Duration::from_millis(200);
const MAX_WRITE_BYTES: usize = 256 << 10;

extern "C" {
    fn flock(fd: i32, operation: i32) -> i32;
    fn getsockopt(fd: i32, level: i32, name: i32, value: *mut u8, length: *mut u32) -> i32;
}
const LOCK_EX: i32 = 2;
const LOCK_NB: i32 = 4;
#[cfg(target_os = "linux")]
const O_NOFOLLOW: i32 = 0o400000;
#[cfg(target_os = "linux")]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(target_os = "linux"))]
const O_NOFOLLOW: i32 = 0x100;
#[cfg(not(target_os = "linux"))]
const O_NONBLOCK: i32 = 0x4;

/// Why `dir` could let another user stand in for the agent or the spool; empty if fine (also when
/// it does not exist yet).
pub fn untrusted_dir_reason(dir: &Path) -> String {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(_) => return String::new(),
    };
    let me = euid();
    if !meta.is_dir() {
        format!("{} is not a directory", dir.display())
    } else if meta.uid() != me {
        format!("the directory {} belongs to user {}, not you (user {})", dir.display(), meta.uid(), me)
    } else if meta.mode() & 0o022 != 0 {
        format!("the directory {} can be written by other users (mode {:04o})", dir.display(), meta.mode() & 0o7777)
    } else {
        String::new()
    }
}

fn peer_uid(stream: &UnixStream) -> Option<u32> {
    // Linux: SO_PEERCRED (SOL_SOCKET 1, 17) fills struct ucred {pid, uid, gid}; macOS/BSD:
    // LOCAL_PEERCRED (SOL_LOCAL 0, 1) fills struct xucred {version, uid, ...}. Either way the uid
    // is the second 32-bit word.
    let (level, name, mut length) = if cfg!(target_os = "linux") { (1, 17, 12u32) } else { (0, 1, 76u32) };
    let mut buffer = [0u8; 76];
    // SAFETY: `buffer` is valid for `length` (<= 76) bytes; getsockopt writes at most that many.
    let rc = unsafe { getsockopt(stream.as_raw_fd(), level, name, buffer.as_mut_ptr(), &mut length) };
    if rc != 0 || length < 8 {
        return None;
    }
    Some(u32::from_ne_bytes([buffer[4], buffer[5], buffer[6], buffer[7]]))
}

/// Connects without blocking to our own agent: Ok(stream), or Err(why) — why is empty when there
/// is simply no agent, else why the socket was refused (an impostor).
pub fn connect_trusted(path: &Path) -> Result<UnixStream, String> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let why = untrusted_dir_reason(dir);
    if !why.is_empty() {
        return Err(format!("{why}; telemetry-kit did not connect to the socket {} in it", path.display()));
    }
    let me = euid();
    // The socket file itself: a socket of ours (nothing there: simply no agent).
    let meta = fs::symlink_metadata(path).map_err(|_| String::new())?;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() || meta.uid() != me {
        let what = if meta.file_type().is_socket() {
            format!("belongs to user {}, not you (user {me})", meta.uid())
        } else {
            "is not a socket".to_string()
        };
        return Err(format!("the socket at {} {what}; telemetry-kit did not send anything to it", path.display()));
    }
    let stream = UnixStream::connect(path).map_err(|_| String::new())?;
    match peer_uid(&stream) {
        Some(uid) if uid == me => {}
        Some(uid) => {
            return Err(format!(
                "the socket at {} belongs to user {uid}, not you (user {me}); telemetry-kit did not send anything to it",
                path.display()
            ))
        }
        None => return Err(format!("cannot tell who listens on {}; telemetry-kit did not send anything to it", path.display())),
    }
    stream.set_nonblocking(true).map_err(|_| String::new())?;
    Ok(stream)
}

/// Appends SpoolRecords to <state dir>/spool by the protocol's rules (docs/protocol.md, "Spool
/// file"): O_APPEND|O_NOFOLLOW|O_NONBLOCK, flock waited for at most 200 ms, checked to still be
/// the file named `spool` after the lock, whole records per write(), at most 16 MiB.
pub struct SpoolWriter {
    state_dir: PathBuf,
    path: PathBuf,
    prefix: Vec<u8>,
    pub refused: String,
}

impl SpoolWriter {
    pub fn new(state_dir: PathBuf, prefix: Vec<u8>) -> Self {
        let path = state_dir.join("spool");
        SpoolWriter { state_dir, path, prefix, refused: String::new() }
    }

    fn open(&mut self) -> Option<File> {
        self.refused = untrusted_dir_reason(&self.state_dir);
        if !self.refused.is_empty() {
            return None;
        }
        let open = || {
            OpenOptions::new().append(true).create(true).mode(0o600).custom_flags(O_NOFOLLOW | O_NONBLOCK).open(&self.path)
        };
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.state_dir).ok()?;
                let meta = fs::symlink_metadata(&self.state_dir).ok()?;
                if !meta.is_dir() || meta.uid() != euid() {
                    return None;
                }
                if meta.mode() & 0o777 != 0o700 {
                    fs::set_permissions(&self.state_dir, fs::Permissions::from_mode(0o700)).ok()?;
                }
                open()
            }
            other => other,
        };
        let file = match file {
            Ok(file) => file,
            Err(_) => {
                if fs::symlink_metadata(&self.path).map(|m| !m.is_file()).unwrap_or(false) {
                    self.refused = format!("{} is not a regular file, not telemetry-kit's file", self.path.display());
                }
                return None;
            }
        };
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            self.refused = format!("{} is not a regular file, not telemetry-kit's file", self.path.display());
        } else if meta.uid() != euid() {
            self.refused = format!("{} belongs to user {}, not you", self.path.display(), meta.uid());
        } else if meta.mode() & 0o022 != 0 {
            self.refused = format!("{} can be written by other users", self.path.display());
        }
        if self.refused.is_empty() {
            Some(file)
        } else {
            None
        }
    }

    fn open_locked(&mut self) -> Option<File> {
        for _ in 0..8 {
            let file = self.open()?;
            let deadline = Instant::now() + SPOOL_LOCK_WAIT;
            // A stopped holder must not hang the tool: after the wait, write without the lock
            // (the holder keeps the agent from renaming the file meanwhile).
            // SAFETY: flock on a descriptor we own.
            while unsafe { flock(file.as_raw_fd(), LOCK_EX | LOCK_NB) } != 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(500));
            }
            let opened = file.metadata().ok()?;
            if let Ok(named) = fs::symlink_metadata(&self.path) {
                if named.dev() == opened.dev() && named.ino() == opened.ino() {
                    return Some(file);
                }
            }
            // The agent renamed it for import meanwhile: open the new spool.
        }
        self.refused = format!("the spool {} was replaced while opening it, again and again", self.path.display());
        None
    }

    /// Appends one record per serialized event; returns (spooled, dropped).
    pub fn append(&mut self, events: &[Vec<u8>]) -> (usize, usize) {
        if events.is_empty() {
            return (0, 0);
        }
        let mut file = match self.open_locked() {
            Some(file) => file,
            None => return (0, events.len()),
        };
        let mut size = file.metadata().map(|m| m.len()).unwrap_or(SPOOL_MAX_FILE_BYTES);
        let mut spooled = 0;
        let mut chunk = Vec::new();
        let mut count = 0;
        for (i, event) in events.iter().enumerate() {
            wire::append_spool_record(&mut chunk, &self.prefix, event);
            count += 1;
            if chunk.len() >= MAX_WRITE_BYTES || i + 1 == events.len() {
                if size + chunk.len() as u64 <= SPOOL_MAX_FILE_BYTES && file.write_all(&chunk).is_ok() {
                    spooled += count;
                    size += chunk.len() as u64;
                }
                chunk.clear();
                count = 0;
            }
        }
        (spooled, events.len() - spooled) // closing the file releases the lock
    }
}
