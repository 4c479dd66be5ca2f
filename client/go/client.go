// Package telemetrykit records which commands and features of a Go tool are used and hands them
// to the per-user telemetry-kit agent (or its spool file), without ever getting in the tool's
// way. Standard library only.
//
//	telemetry := telemetrykit.New(telemetrykit.Config{Tool: "my-cli", Version: "1.2.0",
//		Endpoint: "https://telemetry.example.com", IngestKey: "key"})
//	defer telemetry.Close()
//	telemetry.TrackCommand("build").Str("target", "release").Success(true).Duration(elapsed).Record()
//
// Every call is fire-and-forget: events go to a bounded queue that a background goroutine
// (started only once the process has run for 50 ms) writes to the agent, or Close hands over
// itself, waiting at most 100 ms and spooling what the agent did not take. Go has no exit hook:
// call Close before the process ends (defer it in main, and use Client.Exit instead of os.Exit).
//
// First-run consent for an opt-in tool: AskConsentOnce(config, ConsentPrompt{}) before New.
//
// The canonical import path is the module path of go.mod, github.com/telemetry-kit/telemetry-kit/client/go
// (the import comment below makes the go command refuse any other path outside module mode).
package telemetrykit // import "github.com/telemetry-kit/telemetry-kit/client/go"

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of memory and timing (the C++ client's Limits; docs/clients-python-rust-go.md).
const (
	maxPendingEvents   = 8192
	maxPendingBytes    = 8 << 20
	maxHeldEvents      = 4096
	spoolHighWater     = 2048
	maxEventBytes      = 64 << 10
	flushEveryEvents   = 256
	flushEvery         = 100 * time.Millisecond
	reconnectGrace     = time.Second
	stallAfter         = 500 * time.Millisecond
	maxBackoff         = time.Second
	threadStartAfter   = 50 * time.Millisecond
	threadStartEvents  = 256
	writeRetryInterval = 5 * time.Millisecond
	// ShutdownDeadline is the longest Close waits to hand queued events to the agent.
	ShutdownDeadline = 100 * time.Millisecond
)

// ConsentMode says how the tool asks for consent (the agent applies it).
type ConsentMode int

const (
	// OptIn: nothing is kept until the person grants (the default).
	OptIn ConsentMode = iota
	// OptOut: kept unless the person denies.
	OptOut
)

// Config says who the tool is and where its events go.
type Config struct {
	Tool, Version       string
	Endpoint, IngestKey string // collector base URL and the tool's key there; empty keeps events local
	ConsentMode         ConsentMode
	AllowCI             bool // keep (tagged) events from CI runs
	LocalOnly           bool // never forward, even with an endpoint
	// ManifestRequired: the tool sends only under its manifest published on the collector; the agent
	// holds its events until the collector answers, never storing them unchecked (docs/privacy.md).
	ManifestRequired bool
}

// Mode is what the client does with events, decided once in New.
type Mode string

const (
	Sending  Mode = "sending"  // to the agent (or the spool)
	Debug    Mode = "debug"    // TELEMETRY_KIT_DEBUG=1: printed to stderr as JSON, nothing sent
	Disabled Mode = "disabled" // DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED (or no tool name)
)

// Stats counts what happened to the events of one Client.
type Stats struct {
	Tracked, Delivered, Spooled, Dropped, Suppressed, Reconnects uint64
}

type inflightEvent struct {
	event []byte
	seq   uint64 // covered by a FlushAck whose request ID >= seq
}

// Client is the telemetry client of one tool; safe for concurrent use.
type Client struct {
	config     Config
	mode       Mode
	socketPath string
	hello      []byte
	created    time.Time

	mu            sync.Mutex // pending queue and counters of settlement
	pending       [][]byte
	pendingBytes  int
	accepted      uint64
	settled       uint64
	settledCh     chan struct{} // closed and replaced whenever settled grows
	flushRequests uint64
	stopping      bool
	started       bool
	shutdown      bool

	wake chan struct{}

	ioMu                  sync.Mutex // the I/O state: the goroutine's, or Close's
	ioStopped             bool
	conn                  *net.UnixConn
	broken                bool
	everConnected         bool
	lostAt                time.Time
	nextConnect           time.Time
	backoff               time.Duration
	backlog               [][]byte
	inflight              []inflightEvent
	output                []byte
	nextSeq               uint64
	coveredSeq, ackedSeq  uint64
	uncoveredSince        time.Time
	awaitingAckSince      time.Time
	handledFlushRequests  uint64
	flushWanted           bool
	overHighWater         bool
	brokenWithoutProgress int
	spool                 spoolWriter

	idMu                                                         sync.Mutex
	idState, lastMs, counter                                     uint64
	tracked, delivered, spooled, dropped, suppressed, reconnects uint64 // atomics
}

// New reads the environment once (opt-out switches, debug mode, paths) and never fails: on any
// problem the client is disabled. It does no I/O.
func New(config Config) *Client {
	var seed maphash.Hash
	c := &Client{config: config, mode: Disabled, created: time.Now(), settledCh: make(chan struct{}),
		wake: make(chan struct{}, 1), nextSeq: 1, idState: seed.Sum64() ^ uint64(os.Getpid())<<32}
	if config.Tool == "" {
		return c
	}
	if truthy(lookup("TELEMETRY_KIT_DEBUG")) {
		c.mode = Debug
		c.printTrustProblems()
		return c
	}
	doNotTrack, toolDisabled := lookup("DO_NOT_TRACK"), lookup(toolDisabledVariable(config.Tool))
	// The agent would drop these anyway; not sending them at all is cheaper and more private.
	if truthy(doNotTrack) || truthy(toolDisabled) {
		return c
	}
	var ci []string
	for _, name := range ciVariables {
		if _, ok := os.LookupEnv(name); ok {
			ci = append(ci, name)
		}
	}
	state := stateDir()
	c.socketPath = socketPath(state)
	identity := encodeToolIdentity(&config)
	signals := encodeSignals(doNotTrack, toolDisabled, ci)
	c.hello = helloFrame(identity, signals)
	c.spool = spoolWriter{stateDir: state, path: state + "/spool", prefix: spoolPrefix(identity, signals)}
	c.mode = Sending
	return c
}

// Mode says what the client does with events.
func (c *Client) Mode() Mode { return c.mode }

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	return Stats{atomic.LoadUint64(&c.tracked), atomic.LoadUint64(&c.delivered), atomic.LoadUint64(&c.spooled),
		atomic.LoadUint64(&c.dropped), atomic.LoadUint64(&c.suppressed), atomic.LoadUint64(&c.reconnects)}
}

// TrackCommand starts a command event; call Record (or use StartCommand for a timed scope).
func (c *Client) TrackCommand(name string) *Event {
	return &Event{client: c, kind: kindCommand, name: name}
}

// TrackFeature starts a feature event; call Record.
func (c *Client) TrackFeature(name string) *Event {
	return &Event{client: c, kind: kindFeature, name: name}
}

// Track starts a custom event; call Record.
func (c *Client) Track(name string) *Event { return &Event{client: c, kind: kindCustom, name: name} }

// Flush waits until every event recorded before it is acknowledged by the agent or written to
// the spool; true if so within timeout.
func (c *Client) Flush(timeout time.Duration) bool {
	if c.mode != Sending {
		return true
	}
	c.mu.Lock()
	target := c.accepted
	if c.settled >= target || c.stopping {
		done := c.settled >= target
		c.mu.Unlock()
		return done
	}
	c.flushRequests++
	c.mu.Unlock()
	c.ensureGoroutine()
	c.wakeIO()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		done, ch := c.settled >= target, c.settledCh
		c.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.settled >= target
		}
	}
}

// Close hands over what is queued, waiting at most ShutdownDeadline for the agent; what it did not
// take goes to the spool. Later events are dropped (and counted). Safe to call more than once.
func (c *Client) Close() error {
	if c.mode != Sending {
		return nil
	}
	deadline := time.Now().Add(ShutdownDeadline)
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil
	}
	c.stopping, c.shutdown = true, true
	queued := c.pending
	c.pending, c.pendingBytes = nil, 0
	c.mu.Unlock()
	// The goroutine holds the I/O state only for bounded steps.
	c.ioMu.Lock()
	c.backlog = append(c.backlog, queued...)
	c.drainOnShutdown(deadline)
	c.ioStopped = true
	c.ioMu.Unlock()
	c.wakeIO()
	return nil
}

// Exit closes the client (handing its events over) and ends the process: os.Exit skips deferred
// calls, so a tool that exits with a code uses this instead.
func (c *Client) Exit(code int) {
	c.Close()
	os.Exit(code)
}

func (c *Client) newID(nowMs uint64) [16]byte {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	random := func() uint64 { // splitmix64, seeded by the runtime's random maphash seed
		c.idState += 0x9E3779B97F4A7C15
		z := c.idState
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return z ^ (z >> 31)
	}
	if nowMs > c.lastMs {
		c.lastMs, c.counter = nowMs, random()&0x1ff
	} else if c.counter++; c.counter > 0xfff {
		c.lastMs, c.counter = c.lastMs+1, 0 // exhausted (or the clock went back): borrow the next ms
	}
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], c.lastMs<<16|0x7000|c.counter&0xfff)
	binary.BigEndian.PutUint64(id[8:], random()&0x3fffffffffffffff|0x8000000000000000)
	return id
}

// submit records a finished event (host goroutine): encodes and queues it. No I/O, never blocks.
func (c *Client) submit(e *Event) {
	atomic.AddUint64(&c.tracked, 1)
	if c.mode == Disabled {
		atomic.AddUint64(&c.suppressed, 1)
		return
	}
	now := time.Now()
	nowMs := uint64(now.UnixMilli())
	id := c.newID(nowMs)
	if c.mode == Debug {
		printDebug(&c.config, id, nowMs, e)
		atomic.AddUint64(&c.suppressed, 1)
		return
	}
	event := encodeEvent(&eventFields{id: id, tool: c.config.Tool, toolVersion: c.config.Version, kind: e.kind,
		name: e.name, timestampMs: int64(nowMs), attrs: e.attrs, success: e.success, durationUs: e.durationUs,
		exitCode: e.exitCode})
	if len(event) > maxEventBytes {
		atomic.AddUint64(&c.dropped, 1)
		return
	}
	c.mu.Lock()
	if c.stopping || len(c.pending) >= maxPendingEvents || c.pendingBytes+len(event) > maxPendingBytes {
		c.mu.Unlock()
		atomic.AddUint64(&c.dropped, 1)
		return
	}
	c.pending = append(c.pending, event)
	c.pendingBytes += len(event)
	c.accepted++
	start := !c.started && (len(c.pending) >= threadStartEvents || now.Sub(c.created) >= threadStartAfter)
	c.mu.Unlock()
	if start {
		c.ensureGoroutine()
	}
	c.wakeIO()
}

func (c *Client) wakeIO() {
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is pending
	}
}

func (c *Client) ensureGoroutine() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.shutdown {
		return
	}
	c.started = true
	go c.ioLoop()
}

func (c *Client) settle(n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.settled += uint64(n)
	close(c.settledCh)
	c.settledCh = make(chan struct{})
	c.mu.Unlock()
}

func (c *Client) ioLoop() {
	timer := time.NewTimer(time.Hour)
	for {
		c.ioMu.Lock()
		if c.ioStopped {
			c.ioMu.Unlock()
			return
		}
		again, wait := c.ioStep()
		c.ioMu.Unlock()
		if again {
			continue
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// ioStep does one round of I/O work, each write bounded; again: go on at once; else wait at most
// `wait` (0 = until woken).
func (c *Client) ioStep() (again bool, wait time.Duration) {
	now := time.Now()
	flushNow := false
	var overflow [][]byte
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return false, 0 // Close is taking over
	}
	if c.flushRequests != c.handledFlushRequests {
		c.handledFlushRequests, flushNow, c.flushWanted = c.flushRequests, true, true
	} else if c.settled >= c.accepted {
		c.flushWanted = false
	}
	takeAll := c.spooling(now) || (flushNow && c.conn == nil)
	taken := 0
	for taken < len(c.pending) && (takeAll || len(c.backlog)+len(c.inflight) < maxHeldEvents) {
		c.pendingBytes -= len(c.pending[taken])
		c.backlog = append(c.backlog, c.pending[taken])
		taken++
	}
	c.pending = c.pending[taken:]
	// A lagging agent is waited for (bounded): spill past the high-water mark only once it has
	// acknowledged nothing for stallAfter, or when the queue is about to overflow.
	if c.stalled(now) || len(c.pending) >= maxPendingEvents/8*7 {
		for len(c.pending) > spoolHighWater {
			c.pendingBytes -= len(c.pending[0])
			overflow = append(overflow, c.pending[0])
			c.pending = c.pending[1:]
		}
	}
	c.overHighWater = len(c.pending) > spoolHighWater
	c.mu.Unlock()
	c.spoolEvents(overflow)

	if c.conn != nil && c.broken {
		c.disconnect(now)
	}
	if c.conn == nil && len(c.backlog) > 0 && (flushNow || !now.Before(c.nextConnect)) {
		c.tryConnect(now)
	}
	if c.conn != nil {
		c.fillOutput(now, flushNow || c.flushWanted)
		if !c.writeOutput(now.Add(time.Millisecond)) {
			c.disconnect(now)
		}
	}
	if c.conn == nil && len(c.backlog) > 0 && (flushNow || c.spooling(now)) {
		c.spoolEvents(c.backlog)
		c.backlog = nil
	}

	c.mu.Lock()
	room := len(c.backlog)+len(c.inflight) < maxHeldEvents || c.spooling(now)
	again = (len(c.pending) > 0 && room) || c.flushRequests != c.handledFlushRequests
	c.mu.Unlock()
	return again, c.waitTimeout(now)
}

func (c *Client) waitTimeout(now time.Time) time.Duration {
	var wake time.Time
	consider := func(at time.Time) {
		if wake.IsZero() || at.Before(wake) {
			wake = at
		}
	}
	if c.conn != nil {
		if len(c.output) > 0 {
			consider(now.Add(writeRetryInterval)) // the socket was full: try again soon
		}
		if !c.uncoveredSince.IsZero() {
			consider(c.uncoveredSince.Add(flushEvery))
		}
		if c.overHighWater && !c.awaitingAckSince.IsZero() {
			consider(c.awaitingAckSince.Add(stallAfter))
		}
	} else if len(c.backlog) > 0 {
		consider(c.nextConnect)
		if !c.lostAt.IsZero() {
			consider(c.lostAt.Add(reconnectGrace))
		}
	}
	if wake.IsZero() {
		return 0
	}
	if d := wake.Sub(now) + time.Millisecond; d > time.Millisecond {
		return d
	}
	return time.Millisecond
}

func (c *Client) spooling(now time.Time) bool {
	return c.conn == nil && !(!c.lostAt.IsZero() && now.Sub(c.lostAt) < reconnectGrace)
}

func (c *Client) stalled(now time.Time) bool {
	return !c.awaitingAckSince.IsZero() && now.Sub(c.awaitingAckSince) > stallAfter
}

func (c *Client) tryConnect(now time.Time) {
	conn, _ := connectTrusted(c.socketPath)
	if conn == nil {
		c.backoff *= 2
		if c.backoff < 10*time.Millisecond {
			c.backoff = 10 * time.Millisecond
		}
		if c.backoff > maxBackoff {
			c.backoff = maxBackoff
		}
		c.nextConnect = now.Add(c.backoff)
		return
	}
	if c.everConnected {
		atomic.AddUint64(&c.reconnects, 1)
	}
	c.conn, c.broken, c.everConnected, c.lostAt, c.backoff = conn, false, true, time.Time{}, 0
	c.output = append([]byte(nil), c.hello...)
	c.coveredSeq, c.ackedSeq = c.nextSeq-1, c.nextSeq-1
	c.uncoveredSince, c.awaitingAckSince = time.Time{}, time.Time{}
	go c.readReplies(conn)
}

// readReplies reads the agent's replies on one connection (its own goroutine: Go has no
// non-blocking read), trims the in-flight events on each FlushAck, and marks the connection
// broken on EOF, an error reply or anything malformed.
func (c *Client) readReplies(conn *net.UnixConn) {
	var buffer []byte
	chunk := make([]byte, 4096)
	for {
		n, err := conn.Read(chunk)
		buffer = append(buffer, chunk[:n]...)
		ok := err == nil
		for ok && len(buffer) >= 4 {
			length := int(binary.BigEndian.Uint32(buffer))
			if length > maxFrameBytes {
				ok = false
				break
			}
			if len(buffer)-4 < length {
				break
			}
			kind, id, derr := decodeReply(buffer[4 : 4+length])
			buffer = buffer[4+length:]
			if derr != nil || kind == replyError {
				ok = false
			} else if kind == replyFlushAck {
				c.ioMu.Lock()
				if c.conn == conn {
					c.onAck(id, time.Now())
				}
				c.ioMu.Unlock()
			}
		}
		if !ok {
			c.ioMu.Lock()
			if c.conn == conn {
				c.broken = true
			}
			c.ioMu.Unlock()
			c.wakeIO()
			return
		}
	}
}

func (c *Client) disconnect(now time.Time) {
	c.conn.Close()
	c.conn = nil
	// Unacknowledged events go back to the front of the backlog, in order, to be re-sent.
	resend := make([][]byte, 0, len(c.inflight)+len(c.backlog))
	for _, e := range c.inflight {
		resend = append(resend, e.event)
	}
	c.backlog = append(resend, c.backlog...)
	c.inflight, c.output = nil, nil
	c.lostAt, c.nextConnect = now, now
	// An agent that keeps closing the connection without acknowledging anything gets the spool
	// instead of an endless re-send loop.
	if c.brokenWithoutProgress++; c.brokenWithoutProgress >= 3 {
		c.lostAt = now.Add(-reconnectGrace)
		c.backoff = maxBackoff
		c.nextConnect = now.Add(maxBackoff)
	}
}

func (c *Client) fillOutput(now time.Time, flushNow bool) {
	for _, event := range c.backlog {
		c.output = appendEventFrame(c.output, event)
		c.inflight = append(c.inflight, inflightEvent{event, c.nextSeq})
		c.nextSeq++
		if c.uncoveredSince.IsZero() {
			c.uncoveredSince = now
		}
	}
	c.backlog = nil
	last := c.nextSeq - 1
	if last <= c.coveredSeq {
		return
	}
	due := flushNow || last-c.coveredSeq >= flushEveryEvents ||
		(!c.uncoveredSince.IsZero() && now.Sub(c.uncoveredSince) >= flushEvery)
	if !due {
		return
	}
	c.output = appendFlushFrame(c.output, last, uint32(4*stallAfter/time.Millisecond))
	c.coveredSeq, c.uncoveredSince = last, time.Time{}
	if c.awaitingAckSince.IsZero() {
		c.awaitingAckSince = now
	}
}

// writeOutput writes what it can until `until`; false if the connection failed.
func (c *Client) writeOutput(until time.Time) bool {
	if len(c.output) == 0 {
		return true
	}
	c.conn.SetWriteDeadline(until)
	n, err := c.conn.Write(c.output)
	c.output = c.output[n:]
	if err != nil {
		var netErr net.Error
		return errors.As(err, &netErr) && netErr.Timeout() // full socket: try again later
	}
	return true
}

func (c *Client) onAck(requestID uint64, now time.Time) {
	acked := 0
	for acked < len(c.inflight) && c.inflight[acked].seq <= requestID {
		acked++
	}
	c.inflight = c.inflight[acked:]
	if requestID > c.ackedSeq {
		c.ackedSeq = requestID
	}
	if c.ackedSeq >= c.coveredSeq {
		c.awaitingAckSince = time.Time{}
	} else {
		c.awaitingAckSince = now
	}
	if acked > 0 {
		c.brokenWithoutProgress = 0
		atomic.AddUint64(&c.delivered, uint64(acked))
		c.settle(acked)
	}
}

func (c *Client) spoolEvents(events [][]byte) {
	if len(events) == 0 {
		return
	}
	spooled, dropped := c.spool.append(events)
	atomic.AddUint64(&c.spooled, uint64(spooled))
	atomic.AddUint64(&c.dropped, uint64(dropped))
	c.settle(spooled + dropped)
}

func (c *Client) drainOnShutdown(deadline time.Time) {
	now := time.Now()
	if c.conn != nil && c.broken {
		c.disconnect(now)
	}
	// A short-lived tool has no connection yet: one raw connect and write (no runtime poller, no
	// reader goroutine, no timer) is all its hand-over needs.
	if c.conn == nil && len(c.backlog) > 0 && c.handOverRaw(deadline) {
		return
	}
	if c.conn == nil && len(c.backlog) > 0 {
		c.tryConnect(now)
	}
	if c.conn != nil && !c.stalled(now) {
		// A Flush after the last event: its FlushAck says the agent has stored all of them.
		c.fillOutput(now, true)
		if !c.writeOutput(deadline) || !c.awaitAckBy(deadline) {
			c.disconnect(time.Now())
		}
	}
	// Whatever the agent has not acknowledged goes to the spool: in flight first (the older),
	// then the backlog (where disconnect put events back). An event written whole may still be
	// read by the agent, or may die with it; spooling it too is harmless: the agent dedups by id.
	leftovers := make([][]byte, 0, len(c.inflight)+len(c.backlog))
	for _, e := range c.inflight {
		leftovers = append(leftovers, e.event)
	}
	leftovers = append(leftovers, c.backlog...)
	c.backlog, c.inflight = nil, nil
	c.spoolEvents(leftovers)
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// awaitAckBy waits (ioMu held; released while waiting, for the reader goroutine's onAck) until
// every event in flight is acknowledged or `deadline`; false if the connection broke. An agent
// that accepts and never reads makes this wait the whole deadline.
func (c *Client) awaitAckBy(deadline time.Time) bool {
	for len(c.inflight) > 0 && !c.broken {
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		// A broken connection's wake-up may go to the (idle) I/O goroutine instead: look again soon.
		if left > 5*time.Millisecond {
			left = 5 * time.Millisecond
		}
		c.mu.Lock()
		settled := c.settledCh // closed by onAck's settle, which needs ioMu: not before we wait
		c.mu.Unlock()
		c.ioMu.Unlock()
		timer := time.NewTimer(left)
		select {
		case <-settled:
		case <-c.wake:
		case <-timer.C:
		}
		timer.Stop()
		c.ioMu.Lock()
	}
	return !c.broken
}

func (c *Client) printTrustProblems() {
	// Debug mode sends nothing, but says whether a real run could (an impostor's socket).
	conn, why := connectTrusted(socketPath(stateDir()))
	if conn != nil {
		conn.Close()
	}
	if why != "" {
		os.Stderr.WriteString("telemetry-kit: " + why + "; events would be spooled\n")
	}
}
