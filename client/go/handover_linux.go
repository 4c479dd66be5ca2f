package telemetrykit

import (
	"syscall"
	"time"
)

// handOverRaw hands the backlog to the agent on a connection of its own, made and written with
// raw non-blocking system calls, for Close in a process that never connected (the common case of
// a CLI). The same rules as drainOnShutdown: what is written whole counts as handed over, the rest
// is spooled; a failed write spools everything (the agent keeps one copy per id). False, with
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
	out := append(make([]byte, 0, len(c.hello)+len(c.backlog)*96), c.hello...)
	ends := make([]int, len(c.backlog))
	for i, event := range c.backlog {
		out = appendEventFrame(out, event)
		ends[i] = len(out)
	}
	written := 0
	for written < len(out) {
		// MSG_NOSIGNAL: a closed peer is an error here, never a SIGPIPE.
		n, err := syscall.SendmsgN(fd, out[written:], nil, nil, syscall.MSG_NOSIGNAL)
		written += n
		if err == syscall.EAGAIN || err == syscall.EINTR {
			if time.Now().After(deadline) {
				break // out of time: what got out whole is handed over, the rest is spooled
			}
			time.Sleep(time.Millisecond) // the agent's socket buffer is full: bounded by the deadline
		} else if err != nil {
			written = 0 // the connection broke: spool everything
			break
		}
	}
	return c.spoolUnwritten(ends, written)
}

func credUID(cred *syscall.Ucred) uint32 {
	if cred == nil {
		return 0
	}
	return cred.Uid
}

// spoolUnwritten spools the backlog's events whose frames did not get out whole.
func (c *Client) spoolUnwritten(ends []int, written int) bool {
	var leftovers [][]byte
	for i, event := range c.backlog {
		if ends[i] > written {
			leftovers = append(leftovers, event)
		}
	}
	c.backlog = nil
	c.spoolEvents(leftovers)
	return true
}
