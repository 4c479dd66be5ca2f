package telemetrykit

// The two ways out of the process: the agent's socket (only our own agent's) and the spool file.
// Both only move bytes; what to send when is decided in client.go.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const (
	spoolMaxFileBytes = 16 << 20
	spoolLockWait     = 200 * time.Millisecond
	maxSpoolWrite     = 256 << 10
)

// untrustedDirReason says why dir could let another user stand in for the agent or the spool; ""
// if fine (also when it does not exist yet).
func untrustedDirReason(dir string) string {
	var st syscall.Stat_t
	if syscall.Stat(dir, &st) != nil {
		return ""
	}
	me := uint32(os.Geteuid())
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
		return dir + " is not a directory"
	case st.Uid != me:
		return fmt.Sprintf("the directory %s belongs to user %d, not you (user %d)", dir, st.Uid, me)
	case st.Mode&0o022 != 0:
		return fmt.Sprintf("the directory %s can be written by other users (mode %04o)", dir, st.Mode&0o7777)
	}
	return ""
}

// socketProblem checks the socket's directory and the socket file before connecting: "" and
// present when they are ours; else why not ("" and not present: simply no agent).
func socketProblem(path string) (why string, present bool) {
	if why := untrustedDirReason(filepath.Dir(path)); why != "" {
		return why + "; telemetry-kit did not connect to the socket " + path + " in it", false
	}
	var st syscall.Stat_t
	if syscall.Lstat(path, &st) != nil {
		return "", false // nothing there: no agent
	}
	me := uint32(os.Geteuid())
	if st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
		return "the socket at " + path + " is not a socket; telemetry-kit did not send anything to it", false
	}
	if st.Uid != me {
		return fmt.Sprintf("the socket at %s belongs to user %d, not you (user %d); telemetry-kit did not send anything to it", path, st.Uid, me), false
	}
	return "", true
}

// peerProblem judges the peer's uid, read right after connect(): "" when it is ours.
func peerProblem(path string, uid uint32, ok bool) string {
	if !ok {
		return "cannot tell who listens on " + path + "; telemetry-kit did not send anything to it"
	}
	if me := uint32(os.Geteuid()); uid != me {
		return fmt.Sprintf("the socket at %s belongs to user %d, not you (user %d); telemetry-kit did not send anything to it", path, uid, me)
	}
	return ""
}

// connectTrusted connects to our own agent; on failure why is "" when there is simply no agent,
// else the reason the socket was refused (an impostor).
func connectTrusted(path string) (conn *net.UnixConn, why string) {
	if why, present := socketProblem(path); !present {
		return nil, why
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, ""
	}
	uid, ok := peerUID(conn)
	if why := peerProblem(path, uid, ok); why != "" {
		conn.Close()
		return nil, why
	}
	return conn, ""
}

// spoolWriter appends SpoolRecords to <state dir>/spool by the protocol's rules (docs/protocol.md,
// "Spool file"): O_APPEND|O_NOFOLLOW|O_NONBLOCK, flock waited for at most 200 ms, checked to still
// be the file named spool after the lock, whole records per write(), at most 16 MiB.
type spoolWriter struct {
	stateDir, path string
	prefix         []byte
	refused        string
}

func (s *spoolWriter) open() int {
	if s.refused = untrustedDirReason(s.stateDir); s.refused != "" {
		return -1
	}
	flags := syscall.O_WRONLY | syscall.O_APPEND | syscall.O_CREAT | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	fd, err := syscall.Open(s.path, flags, 0o600)
	if err == syscall.ENOENT {
		if os.MkdirAll(s.stateDir, 0o700) != nil {
			return -1
		}
		var st syscall.Stat_t
		if syscall.Lstat(s.stateDir, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || st.Uid != uint32(os.Geteuid()) {
			return -1
		}
		if st.Mode&0o777 != 0o700 && syscall.Chmod(s.stateDir, 0o700) != nil {
			return -1
		}
		fd, err = syscall.Open(s.path, flags, 0o600)
	}
	if err != nil {
		if err == syscall.ELOOP || err == syscall.ENXIO { // a planted symlink or FIFO
			s.refused = s.path + " is not a regular file, not telemetry-kit's file"
		}
		return -1
	}
	var st syscall.Stat_t
	switch {
	case syscall.Fstat(fd, &st) != nil:
		s.refused = "cannot stat " + s.path
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		s.refused = s.path + " is not a regular file, not telemetry-kit's file"
	case st.Uid != uint32(os.Geteuid()):
		s.refused = fmt.Sprintf("%s belongs to user %d, not you", s.path, st.Uid)
	case st.Mode&0o022 != 0:
		s.refused = s.path + " can be written by other users"
	}
	if s.refused != "" {
		syscall.Close(fd)
		return -1
	}
	return fd
}

func (s *spoolWriter) openLocked() int {
	for attempt := 0; attempt < 8; attempt++ {
		fd := s.open()
		if fd < 0 {
			return -1
		}
		// A stopped holder must not hang the tool: after the wait, write without the lock (the
		// holder keeps the agent from renaming the file meanwhile).
		deadline := time.Now().Add(spoolLockWait)
		for syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil && time.Now().Before(deadline) {
			time.Sleep(500 * time.Microsecond)
		}
		var opened, named syscall.Stat_t
		if syscall.Fstat(fd, &opened) == nil && syscall.Lstat(s.path, &named) == nil &&
			opened.Dev == named.Dev && opened.Ino == named.Ino {
			return fd
		}
		syscall.Close(fd) // the agent renamed it for import meanwhile: open the new spool
	}
	s.refused = "the spool " + s.path + " was replaced while opening it, again and again"
	return -1
}

func writeAll(fd int, data []byte) bool {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return false
		}
		data = data[n:]
	}
	return true
}

// append writes one record per serialized event; returns how many were spooled and dropped.
func (s *spoolWriter) append(events [][]byte) (spooled, dropped int) {
	if len(events) == 0 {
		return 0, 0
	}
	fd := s.openLocked()
	if fd < 0 {
		return 0, len(events)
	}
	defer syscall.Close(fd) // and with it the lock
	var st syscall.Stat_t
	size := int64(spoolMaxFileBytes)
	if syscall.Fstat(fd, &st) == nil {
		size = st.Size
	}
	var chunk []byte
	count := 0
	for i, event := range events {
		chunk = appendSpoolRecord(chunk, s.prefix, event)
		count++
		if len(chunk) >= maxSpoolWrite || i == len(events)-1 {
			if size+int64(len(chunk)) <= spoolMaxFileBytes && writeAll(fd, chunk) {
				spooled += count
				size += int64(len(chunk))
			}
			chunk, count = chunk[:0], 0
		}
	}
	return spooled, len(events) - spooled
}
