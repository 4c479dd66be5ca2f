//! The engine behind `Client` (the C++ client's design, client/src/core.hpp): the host's threads
//! encode events and append them to a bounded queue (no I/O); one lazily started I/O thread — or
//! the dropping thread, at the end — writes them to the agent and keeps them in flight until a
//! FlushAck covers them. A broken connection puts the in-flight events back in front (the agent
//! drops duplicates by id). With no agent, or one that stopped acknowledging, events are spooled.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::transport::{self, SpoolWriter};
use crate::{env, wire, Client, Config, ConsentMode, Mode, Stats, Value};

// Bounds of memory and timing (the C++ client's Limits; docs/clients-python-rust-go.md).
const MAX_PENDING_EVENTS: usize = 8192;
const MAX_PENDING_BYTES: usize = 8 << 20;
const MAX_HELD_EVENTS: usize = 4096;
const SPOOL_HIGH_WATER: usize = 2048;
const MAX_EVENT_BYTES: usize = 64 << 10;
const FLUSH_EVERY_EVENTS: u64 = 256;
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const RECONNECT_GRACE: Duration = Duration::from_millis(1000);
const STALL_AFTER: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_millis(1000);
const THREAD_START_AFTER: Duration = Duration::from_millis(50);
const THREAD_START_EVENTS: usize = 256;

pub struct Draft {
    pub kind: u64,
    pub name: String,
    pub attributes: Vec<(String, Value)>,
    pub success: Option<bool>,
    pub duration_us: Option<i64>,
    pub exit_code: Option<i32>,
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}
const POLLIN: i16 = 1;
const POLLOUT: i16 = 4;
extern "C" {
    fn poll(fds: *mut PollFd, count: std::os::raw::c_ulong, timeout_ms: i32) -> i32;
}

fn wait_ready(fds: &mut [PollFd], timeout: Option<Duration>) {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(60_000) as i32);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    unsafe { poll(fds.as_mut_ptr(), fds.len() as std::os::raw::c_ulong, ms) };
}

/// Shared between the host's threads and the I/O thread.
struct Shared {
    pending: VecDeque<Vec<u8>>,
    pending_bytes: usize,
    accepted: u64,
    settled: u64,
    flush_requests: u64,
    stopping: bool,
    thread_started: bool,
    shutdown_started: bool,
}

/// The I/O state: owned by whoever holds the lock — the I/O thread, or the thread in shutdown().
struct Io {
    stopped: bool,
    sock: Option<UnixStream>,
    ever_connected: bool,
    lost_at: Option<Instant>,
    next_connect: Instant,
    backoff: Duration,
    backlog: VecDeque<Vec<u8>>,
    inflight: VecDeque<(Vec<u8>, u64)>, // event, seq (covered by a FlushAck whose request_id >= seq)
    output: Vec<u8>,
    output_offset: usize,
    next_seq: u64,
    covered_seq: u64,
    acked_seq: u64,
    uncovered_since: Option<Instant>,
    awaiting_ack_since: Option<Instant>,
    handled_flush_requests: u64,
    flush_wanted: bool,
    replies: Vec<u8>,
    over_high_water: bool,
    broken_without_progress: u32,
    spool: SpoolWriter,
}

struct Ids {
    state: u64,
    last_ms: u64,
    counter: u64,
}

impl Ids {
    fn random(&mut self) -> u64 {
        // splitmix64, seeded from the OS's randomness (RandomState) at the first event.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// UUIDv7: 48-bit Unix ms, a 12-bit counter for order within a millisecond, 62 random bits.
    fn next(&mut self, now_ms: u64) -> [u8; 16] {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.counter = self.random() & 0x1ff;
        } else {
            self.counter += 1;
            if self.counter > 0xfff {
                self.last_ms += 1; // exhausted (or the clock went back): borrow the next ms
                self.counter = 0;
            }
        }
        let rand_b = self.random();
        let mut id = [0u8; 16];
        id[..6].copy_from_slice(&self.last_ms.to_be_bytes()[2..]);
        id[6] = 0x70 | ((self.counter >> 8) as u8 & 0x0f);
        id[7] = self.counter as u8;
        id[8..].copy_from_slice(&rand_b.to_be_bytes());
        id[8] = 0x80 | (id[8] & 0x3f);
        id
    }
}

pub struct Core {
    pub mode: Mode,
    tool: String,
    version: String,
    socket_path: PathBuf,
    hello: Vec<u8>,
    shared: Mutex<Shared>,
    settled_changed: Condvar,
    io: Mutex<Io>,
    io_sleeping: AtomicBool,
    wake: Option<(UnixStream, UnixStream)>,
    created: Instant,
    ids: Mutex<Ids>,
    tracked: AtomicU64,
    delivered: AtomicU64,
    spooled: AtomicU64,
    dropped: AtomicU64,
    suppressed: AtomicU64,
    reconnects: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind: go on with it.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Core {
    pub fn new(config: Config) -> Arc<Core> {
        let seed = RandomState::new().build_hasher().finish() ^ (std::process::id() as u64).rotate_left(32);
        let mut core = Core {
            mode: Mode::Disabled,
            tool: config.tool.clone(),
            version: config.version.clone(),
            socket_path: PathBuf::new(),
            hello: Vec::new(),
            shared: Mutex::new(Shared {
                pending: VecDeque::new(),
                pending_bytes: 0,
                accepted: 0,
                settled: 0,
                flush_requests: 0,
                stopping: false,
                thread_started: false,
                shutdown_started: false,
            }),
            settled_changed: Condvar::new(),
            io: Mutex::new(Io::new(SpoolWriter::new(PathBuf::new(), Vec::new()))),
            io_sleeping: AtomicBool::new(false),
            wake: None,
            created: Instant::now(),
            ids: Mutex::new(Ids { state: seed, last_ms: 0, counter: 0 }),
            tracked: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            spooled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        };
        if config.tool.is_empty() {
            return Arc::new(core); // nothing to attribute events to: disabled
        }
        if env::debug_requested() {
            core.mode = Mode::Debug;
            print_trust_problems();
            return Arc::new(core);
        }
        let signals = env::signals(&config.tool);
        // The agent would drop these anyway; not sending them at all is cheaper and more private.
        if env::truthy(signals.do_not_track.as_ref()) || env::truthy(signals.tool_disabled.as_ref()) {
            return Arc::new(core);
        }
        use std::os::unix::ffi::OsStrExt;
        let state = env::state_dir();
        core.socket_path = env::socket_path(&state);
        let identity = wire::encode_tool_identity(&wire::Identity {
            tool: &config.tool,
            version: &config.version,
            endpoint: &config.endpoint,
            ingest_key: &config.ingest_key,
            opt_out: config.consent_mode == ConsentMode::OptOut,
            allow_ci: config.allow_ci,
            local_only: config.local_only,
            manifest_required: config.manifest_required,
        });
        let encoded_signals = wire::encode_signals(
            signals.do_not_track.as_ref().map(|v| v.as_bytes()),
            signals.tool_disabled.as_ref().map(|v| v.as_bytes()),
            &signals.ci,
        );
        core.hello = wire::hello_frame(&identity, &encoded_signals);
        core.io = Mutex::new(Io::new(SpoolWriter::new(state, wire::spool_prefix(&identity, &encoded_signals))));
        match UnixStream::pair() {
            Ok((rx, tx)) if rx.set_nonblocking(true).is_ok() && tx.set_nonblocking(true).is_ok() => {
                core.wake = Some((rx, tx));
                core.mode = Mode::Sending;
            }
            _ => {} // no wake-up channel: disabled
        }
        Arc::new(core)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            tracked: self.tracked.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            suppressed: self.suppressed.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Records a finished event (host thread): encodes and queues it. No I/O, never blocks.
    pub fn submit(self: &Arc<Self>, draft: Draft) {
        self.tracked.fetch_add(1, Ordering::Relaxed);
        if self.mode == Mode::Disabled {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let timestamp = now_ms();
        let id = lock(&self.ids).next(timestamp);
        if self.mode == Mode::Debug {
            print_debug(&self.tool, &self.version, &id, timestamp, &draft);
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let event = wire::encode_event(&wire::EventFields {
            id,
            tool: &self.tool,
            tool_version: &self.version,
            kind: draft.kind,
            name: &draft.name,
            timestamp_unix_ms: timestamp as i64,
            attributes: &draft.attributes,
            success: draft.success,
            duration_us: draft.duration_us,
            exit_code: draft.exit_code,
        });
        if event.len() > MAX_EVENT_BYTES {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let start_thread;
        {
            let mut shared = lock(&self.shared);
            if shared.stopping
                || shared.pending.len() >= MAX_PENDING_EVENTS
                || shared.pending_bytes + event.len() > MAX_PENDING_BYTES
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            shared.pending_bytes += event.len();
            shared.pending.push_back(event);
            shared.accepted += 1;
            start_thread = !shared.thread_started
                && (shared.pending.len() >= THREAD_START_EVENTS || self.created.elapsed() >= THREAD_START_AFTER);
        }
        if start_thread {
            self.ensure_thread();
        }
        if self.io_sleeping.swap(false, Ordering::AcqRel) {
            self.wake_io();
        }
    }

    fn wake_io(&self) {
        if let Some((_, tx)) = &self.wake {
            let _ = (&*tx).write(&[1]); // a full channel: a wake-up is pending anyway
        }
    }

    fn ensure_thread(self: &Arc<Self>) {
        {
            let mut shared = lock(&self.shared);
            if shared.thread_started || shared.shutdown_started {
                return;
            }
            shared.thread_started = true;
        }
        let core = Arc::clone(self);
        // No thread: events wait for flush() or drop, which hand them over themselves.
        let _ = std::thread::Builder::new().name("telemetry-kit".into()).spawn(move || core.io_loop());
    }

    pub fn flush(self: &Arc<Self>, deadline: Duration) -> bool {
        if self.mode != Mode::Sending {
            return true;
        }
        let target;
        {
            let mut shared = lock(&self.shared);
            target = shared.accepted;
            if shared.settled >= target || shared.stopping {
                return shared.settled >= target;
            }
            shared.flush_requests += 1;
        }
        self.ensure_thread();
        self.wake_io();
        let shared = lock(&self.shared);
        let (shared, _) = self
            .settled_changed
            .wait_timeout_while(shared, deadline, |s| s.settled < target)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shared.settled >= target
    }

    fn settle(&self, n: usize) {
        if n > 0 {
            lock(&self.shared).settled += n as u64;
            self.settled_changed.notify_all();
        }
    }

    /// Hands over what is queued on the calling thread within Client::SHUTDOWN_DEADLINE (the rest
    /// goes to the spool), then lets the I/O thread go without joining it.
    pub fn shutdown(&self) {
        if self.mode != Mode::Sending {
            return;
        }
        let deadline = Instant::now() + Client::SHUTDOWN_DEADLINE;
        let queued: Vec<Vec<u8>> = {
            let mut shared = lock(&self.shared);
            shared.shutdown_started = true;
            shared.stopping = true;
            shared.pending_bytes = 0;
            shared.pending.drain(..).collect()
        };
        {
            // The I/O thread holds this only for non-blocking steps: a bounded wait.
            let mut io = lock(&self.io);
            io.backlog.extend(queued);
            self.drain_on_shutdown(&mut io, deadline);
            io.stopped = true;
        }
        self.wake_io();
    }

    fn io_loop(self: Arc<Self>) {
        loop {
            let (timeout, watch_write, fd) = {
                let mut io = lock(&self.io);
                if io.stopped {
                    return;
                }
                match self.io_step(&mut io) {
                    None => continue,
                    Some((timeout, watch_write)) => (timeout, watch_write, io.sock.as_ref().map(|s| s.as_raw_fd())),
                }
            };
            let wake_fd = self.wake.as_ref().map_or(-1, |(rx, _)| rx.as_raw_fd());
            let mut fds = [PollFd { fd: wake_fd, events: POLLIN, revents: 0 }, PollFd { fd: -1, events: 0, revents: 0 }];
            if let Some(fd) = fd {
                fds[1] = PollFd { fd, events: POLLIN | if watch_write { POLLOUT } else { 0 }, revents: 0 };
            }
            wait_ready(&mut fds, timeout);
            self.io_sleeping.store(false, Ordering::Release);
            if let Some((rx, _)) = &self.wake {
                let mut drain = [0u8; 64];
                while matches!((&*rx).read(&mut drain), Ok(n) if n > 0) {}
            }
        }
    }

    /// One round of non-blocking I/O work. None: go again at once; else how long to sleep at most
    /// (None = until woken) and whether to wake when the socket is writable.
    fn io_step(&self, io: &mut Io) -> Option<(Option<Duration>, bool)> {
        let now = Instant::now();
        let mut flush_now = false;
        let mut overflow = Vec::new();
        {
            let mut shared = lock(&self.shared);
            if shared.stopping {
                self.io_sleeping.store(true, Ordering::Release);
                return Some((None, false)); // shutdown() is taking over; wait for its wake-up
            }
            if shared.flush_requests != io.handled_flush_requests {
                io.handled_flush_requests = shared.flush_requests;
                flush_now = true;
                io.flush_wanted = true;
            } else if shared.settled >= shared.accepted {
                io.flush_wanted = false;
            }
            let take_all = io.spooling(now) || (flush_now && io.sock.is_none());
            while !shared.pending.is_empty() && (take_all || io.backlog.len() + io.inflight.len() < MAX_HELD_EVENTS) {
                let event = shared.pending.pop_front().unwrap_or_default();
                shared.pending_bytes -= event.len();
                io.backlog.push_back(event);
            }
            // A lagging agent is waited for (bounded): spill past the high-water mark only once it
            // has acknowledged nothing for STALL_AFTER, or when the queue is about to overflow.
            if io.stalled(now) || shared.pending.len() >= MAX_PENDING_EVENTS / 8 * 7 {
                while shared.pending.len() > SPOOL_HIGH_WATER {
                    let event = shared.pending.pop_front().unwrap_or_default();
                    shared.pending_bytes -= event.len();
                    overflow.push(event);
                }
            }
            io.over_high_water = shared.pending.len() > SPOOL_HIGH_WATER;
        }
        self.spool(io, &overflow);

        if io.sock.is_none() && !io.backlog.is_empty() && (flush_now || now >= io.next_connect) {
            self.try_connect(io, now);
        }
        if io.sock.is_some() {
            let flush = flush_now || io.flush_wanted;
            io.fill_output(now, flush);
            if !io.write_output() || !self.read_replies(io, now) {
                io.disconnect(now);
            }
        }
        if io.sock.is_none() && !io.backlog.is_empty() && (flush_now || io.spooling(now)) {
            let backlog: Vec<Vec<u8>> = io.backlog.drain(..).collect();
            self.spool(io, &backlog);
        }

        self.io_sleeping.store(true, Ordering::Release);
        {
            let shared = lock(&self.shared);
            let room = io.backlog.len() + io.inflight.len() < MAX_HELD_EVENTS || io.spooling(now);
            if (!shared.pending.is_empty() && room) || shared.flush_requests != io.handled_flush_requests {
                self.io_sleeping.store(false, Ordering::Release);
                return None;
            }
        }
        Some((io.wait_timeout(now), io.sock.is_some() && io.output_offset < io.output.len()))
    }

    fn try_connect(&self, io: &mut Io, now: Instant) {
        match transport::connect_trusted(&self.socket_path) {
            Err(_) => {
                io.backoff = (io.backoff * 2).max(Duration::from_millis(10)).min(MAX_BACKOFF);
                io.next_connect = now + io.backoff;
            }
            Ok(sock) => {
                if io.ever_connected {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                io.sock = Some(sock);
                io.ever_connected = true;
                io.lost_at = None;
                io.backoff = Duration::ZERO;
                io.output = self.hello.clone();
                io.output_offset = 0;
                io.covered_seq = io.next_seq - 1;
                io.acked_seq = io.covered_seq;
                io.uncovered_since = None;
                io.awaiting_ack_since = None;
                io.replies.clear();
            }
        }
    }

    fn read_replies(&self, io: &mut Io, now: Instant) -> bool {
        let mut open = true;
        let mut buffer = [0u8; 4096];
        if let Some(sock) = io.sock.as_mut() {
            loop {
                match sock.read(&mut buffer) {
                    Ok(0) => {
                        open = false;
                        break;
                    }
                    Ok(n) => io.replies.extend_from_slice(&buffer[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        open = false;
                        break;
                    }
                }
            }
        }
        let mut pos = 0;
        while io.replies.len() - pos >= 4 {
            let length = u32::from_be_bytes([io.replies[pos], io.replies[pos + 1], io.replies[pos + 2], io.replies[pos + 3]])
                as usize;
            if length > wire::MAX_FRAME_BYTES {
                return false;
            }
            if io.replies.len() - pos - 4 < length {
                break;
            }
            let reply = wire::decode_reply(&io.replies[pos + 4..pos + 4 + length]);
            pos += 4 + length;
            match reply {
                Ok(wire::Reply::FlushAck(id)) => {
                    let acked = io.on_ack(id, now);
                    if acked > 0 {
                        self.delivered.fetch_add(acked as u64, Ordering::Relaxed);
                        self.settle(acked);
                    }
                }
                Ok(wire::Reply::Other) => {}
                Ok(wire::Reply::Error(_)) | Err(()) => return false,
            }
        }
        io.replies.drain(..pos);
        open
    }

    fn spool(&self, io: &mut Io, events: &[Vec<u8>]) {
        if events.is_empty() {
            return;
        }
        let (spooled, dropped) = io.spool.append(events);
        self.spooled.fetch_add(spooled as u64, Ordering::Relaxed);
        self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        self.settle(spooled + dropped);
    }

    fn drain_on_shutdown(&self, io: &mut Io, deadline: Instant) {
        let now = Instant::now();
        if io.sock.is_none() && !io.backlog.is_empty() {
            self.try_connect(io, now);
        }
        if io.sock.is_some() && !io.stalled(now) {
            // A Flush after the last event: its FlushAck says the agent has stored all of them.
            io.fill_output(now, true);
            if !io.write_by(deadline) || !self.await_ack_by(io, deadline) {
                io.disconnect(Instant::now());
            }
        }
        // Whatever the agent has not acknowledged goes to the spool: in flight first (the older),
        // then the backlog (where disconnect() put events back). An event written whole may still
        // be read by the agent, or may die with it; spooling it too is harmless: the agent dedups.
        let mut leftovers: Vec<Vec<u8>> = io.inflight.drain(..).map(|(e, _)| e).collect();
        leftovers.extend(io.backlog.drain(..));
        self.spool(io, &leftovers);
        io.sock = None;
    }

    /// Reads replies until every event in flight is acknowledged or `deadline`; false if the
    /// connection broke. An agent that accepts and never reads makes this wait the whole deadline.
    fn await_ack_by(&self, io: &mut Io, deadline: Instant) -> bool {
        while !io.inflight.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            let fd = io.sock.as_ref().map_or(-1, |s| s.as_raw_fd());
            let mut fds = [PollFd { fd, events: POLLIN, revents: 0 }];
            wait_ready(&mut fds, Some(left.max(Duration::from_millis(1))));
            if fds[0].revents == 0 {
                continue; // timed out or interrupted: the deadline check above decides
            }
            if !self.read_replies(io, Instant::now()) {
                return false;
            }
        }
        true
    }
}

impl Io {
    fn new(spool: SpoolWriter) -> Io {
        Io {
            stopped: false,
            sock: None,
            ever_connected: false,
            lost_at: None,
            next_connect: Instant::now(),
            backoff: Duration::ZERO,
            backlog: VecDeque::new(),
            inflight: VecDeque::new(),
            output: Vec::new(),
            output_offset: 0,
            next_seq: 1,
            covered_seq: 0,
            acked_seq: 0,
            uncovered_since: None,
            awaiting_ack_since: None,
            handled_flush_requests: 0,
            flush_wanted: false,
            replies: Vec::new(),
            over_high_water: false,
            broken_without_progress: 0,
            spool,
        }
    }

    fn spooling(&self, now: Instant) -> bool {
        self.sock.is_none() && !self.lost_at.map_or(false, |lost| now.duration_since(lost) < RECONNECT_GRACE)
    }

    fn stalled(&self, now: Instant) -> bool {
        self.awaiting_ack_since.map_or(false, |since| now.duration_since(since) > STALL_AFTER)
    }

    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        let mut wake: Option<Instant> = None;
        let mut consider = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        if self.sock.is_some() {
            if let Some(since) = self.uncovered_since {
                consider(since + FLUSH_EVERY);
            }
            if let (true, Some(since)) = (self.over_high_water, self.awaiting_ack_since) {
                consider(since + STALL_AFTER);
            }
        } else if !self.backlog.is_empty() {
            consider(self.next_connect);
            if let Some(lost) = self.lost_at {
                consider(lost + RECONNECT_GRACE);
            }
        }
        wake.map(|at| at.saturating_duration_since(now) + Duration::from_millis(1))
    }

    fn disconnect(&mut self, now: Instant) {
        self.sock = None;
        // Unacknowledged events go back to the front of the backlog, in order, to be re-sent.
        while let Some((event, _)) = self.inflight.pop_back() {
            self.backlog.push_front(event);
        }
        self.output.clear();
        self.output_offset = 0;
        self.lost_at = Some(now);
        self.next_connect = now;
        // An agent that keeps closing the connection without acknowledging anything gets the
        // spool instead of an endless re-send loop.
        self.broken_without_progress += 1;
        if self.broken_without_progress >= 3 {
            self.lost_at = now.checked_sub(RECONNECT_GRACE);
            self.backoff = MAX_BACKOFF;
            self.next_connect = now + MAX_BACKOFF;
        }
    }

    fn fill_output(&mut self, now: Instant, flush_now: bool) {
        while let Some(event) = self.backlog.pop_front() {
            wire::append_event_frame(&mut self.output, &event);
            self.inflight.push_back((event, self.next_seq));
            self.next_seq += 1;
            self.uncovered_since.get_or_insert(now);
        }
        let last = self.next_seq - 1;
        if last <= self.covered_seq {
            return;
        }
        let due = flush_now
            || last - self.covered_seq >= FLUSH_EVERY_EVENTS
            || self.uncovered_since.map_or(false, |since| now.duration_since(since) >= FLUSH_EVERY);
        if !due {
            return;
        }
        wire::append_flush_frame(&mut self.output, last, (STALL_AFTER.as_millis() * 4) as u32);
        self.covered_seq = last;
        self.uncovered_since = None;
        self.awaiting_ack_since.get_or_insert(now);
    }

    /// Writes the output until it is all out or `deadline`; false if the connection broke.
    fn write_by(&mut self, deadline: Instant) -> bool {
        loop {
            if !self.write_output() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.output_offset >= self.output.len() || left.is_zero() {
                return true;
            }
            let fd = self.sock.as_ref().map_or(-1, |s| s.as_raw_fd());
            wait_ready(&mut [PollFd { fd, events: POLLOUT, revents: 0 }], Some(left.max(Duration::from_millis(1))));
        }
    }

    fn write_output(&mut self) -> bool {
        let sock = match self.sock.as_mut() {
            Some(sock) => sock,
            None => return false,
        };
        while self.output_offset < self.output.len() {
            match sock.write(&self.output[self.output_offset..]) {
                Ok(0) => return false,
                Ok(n) => self.output_offset += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break, // wait for writable
                Err(_) => return false,
            }
        }
        if self.output_offset == self.output.len() {
            self.output.clear();
            self.output_offset = 0;
        }
        true
    }

    fn on_ack(&mut self, request_id: u64, now: Instant) -> usize {
        let mut acked = 0;
        while self.inflight.front().map_or(false, |(_, seq)| *seq <= request_id) {
            self.inflight.pop_front();
            acked += 1;
        }
        self.acked_seq = self.acked_seq.max(request_id);
        self.awaiting_ack_since = if self.acked_seq >= self.covered_seq { None } else { Some(now) };
        if acked > 0 {
            self.broken_without_progress = 0;
        }
        acked
    }
}

fn write_stderr(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn print_trust_problems() {
    // Debug mode sends nothing, but says whether a real run could (an impostor's socket).
    let socket = env::socket_path(&env::state_dir());
    if let Err(why) = transport::connect_trusted(&socket) {
        if !why.is_empty() {
            write_stderr(&format!("telemetry-kit: {why}; events would be spooled\n"));
        }
    }
}

fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn print_debug(tool: &str, version: &str, id: &[u8; 16], timestamp: u64, draft: &Draft) {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let uuid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
    let mut line = format!("{{\"id\":\"{uuid}\",\"tool\":");
    json_string(&mut line, tool);
    line.push_str(",\"tool_version\":");
    json_string(&mut line, version);
    let kind = match draft.kind {
        wire::KIND_COMMAND => "command",
        wire::KIND_FEATURE => "feature",
        _ => "custom",
    };
    line.push_str(&format!(",\"kind\":\"{kind}\",\"name\":"));
    json_string(&mut line, &draft.name);
    line.push_str(&format!(",\"timestamp_unix_ms\":{timestamp},\"attributes\":{{"));
    for (i, (key, value)) in draft.attributes.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        json_string(&mut line, key);
        line.push(':');
        match value {
            Value::Str(text) => json_string(&mut line, text),
            Value::Int(n) => line.push_str(&n.to_string()),
            Value::Float(x) if x.is_finite() => line.push_str(&format!("{x:?}")),
            Value::Float(_) => line.push_str("null"),
            Value::Bool(b) => line.push_str(if *b { "true" } else { "false" }),
        }
    }
    line.push('}');
    if let Some(success) = draft.success {
        line.push_str(&format!(",\"success\":{success}"));
    }
    if let Some(duration) = draft.duration_us {
        line.push_str(&format!(",\"duration_us\":{duration}"));
    }
    if let Some(code) = draft.exit_code {
        line.push_str(&format!(",\"exit_code\":{code}"));
    }
    line.push_str("}\n");
    write_stderr(&line);
}
