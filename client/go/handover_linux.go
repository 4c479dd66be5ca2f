package telemetrykit

import (
	"encoding/binary"
	"sync/atomic"
	"syscall"
	"time"
)

// handOverRaw hands the backlog to the agent on a connection of its own, made and written with
// raw system calls, for Close in a process that never connected (the common case of a CLI). The
// same rules as drainOnShutdown: the events and a Flush are written, and unless the agent's
// FlushAck arrives by the deadline every event is spooled (the agent keeps one copy per id). False, with
// nothing done, when there is no trusted agent to talk to: the caller then spools.
func (c *Client) handOverRaw(deadline time.Time) bool {
	if _, present := socketProblem(c.socketPath); !present {
		return false
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	if syscall.Connect(fd, &syscall.SockaddrUnix{Name: c.socketPath}) != nil {
		return false
	}
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if peerProblem(c.socketPath, credUID(cred), err == nil) != "" {
		return false
	}
	// The events and a Flush after them: its FlushAck says the agent has stored all of them.
	requestID := c.nextSeq - 1 + uint64(len(c.backlog))
	out := append(make([]byte, 0, len(c.hello)+len(c.backlog)*96+32), c.hello...)
	for _, event := range c.backlog {
		out = appendEventFrame(out, event)
	}
	out = appendFlushFrame(out, requestID, uint32(4*stallAfter/time.Millisecond))
	written := 0
	for written < len(out) {
		// MSG_NOSIGNAL: a closed peer is an error here, never a SIGPIPE.
		n, err := syscall.SendmsgN(fd, out[written:], nil, nil, syscall.MSG_NOSIGNAL)
		if n > 0 {
			written += n
		}
		if err == syscall.EAGAIN || err == syscall.EINTR {
			if time.Now().After(deadline) {
				break // out of time: nothing is acknowledged, everything is spooled
			}
			time.Sleep(time.Millisecond) // the agent's socket buffer is full: bounded by the deadline
		} else if err != nil {
			break // the connection broke: spool everything
		}
	}
	if written == len(out) && awaitAckRaw(fd, requestID, deadline) {
		n := len(c.backlog)
		c.backlog = nil
		atomic.AddUint64(&c.delivered, uint64(n))
		c.settle(n)
		return true
	}
	// Not acknowledged by the deadline: spool every event, also those written whole into the
	// socket (the agent may still read them, or die with them; it keeps one copy per id).
	leftovers := c.backlog
	c.backlog = nil
	c.spoolEvents(leftovers)
	return true
}

// awaitAckRaw reads the agent's replies on fd until a FlushAck covering requestID (true), or an
// error reply, a broken connection or `deadline` (false).
func awaitAckRaw(fd int, requestID uint64, deadline time.Time) bool {
	var buffer []byte
	chunk := make([]byte, 4096)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		// Block in recv for at most the time left (SO_RCVTIMEO on a blocking socket).
		if left < time.Millisecond {
			left = time.Millisecond
		}
		tv := syscall.NsecToTimeval(left.Nanoseconds())
		if syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv) != nil ||
			syscall.SetNonblock(fd, false) != nil {
			return false
		}
		n, err := syscall.Read(fd, chunk)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			continue // timed out (the deadline check above ends it) or interrupted
		}
		if err != nil || n <= 0 {
			return false // the connection broke
		}
		buffer = append(buffer, chunk[:n]...)
		for len(buffer) >= 4 {
			length := int(binary.BigEndian.Uint32(buffer))
			if length > maxFrameBytes {
				return false
			}
			if len(buffer)-4 < length {
				break
			}
			kind, id, derr := decodeReply(buffer[4 : 4+length])
			buffer = buffer[4+length:]
			if derr != nil || kind == replyError {
				return false
			}
			if kind == replyFlushAck && id >= requestID {
				return true
			}
		}
	}
}

func credUID(cred *syscall.Ucred) uint32 {
	if cred == nil {
		return 0
	}
	return cred.Uid
}
