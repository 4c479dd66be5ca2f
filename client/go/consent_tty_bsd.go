//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package telemetrykit

// The terminal side of the consent prompt on macOS and the BSDs: isatty (TIOCGETA) and a line read
// with a deadline (poll, then read(2) byte by byte, so nothing past the answer's line is consumed).
// The agent's socket is checked by its file's owner there (peercred_other.go), so an answer can be
// recorded and the helper asks as on Linux.

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

func isTerminal(f *os.File) bool {
	var termios syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCGETA, uintptr(unsafe.Pointer(&termios)))
	return errno == 0
}

type pollFd struct {
	fd              int32
	events, revents int16
}

// readAnswer reads one line; answered is false on timeout ("" and true at end of input).
func readAnswer(f *os.File, timeout time.Duration) (line string, answered bool) {
	fd := int(f.Fd())
	deadline := time.Now().Add(timeout)
	var buffer []byte
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return "", false
		}
		p := pollFd{fd: int32(fd), events: 1} // POLLIN
		ms := left.Milliseconds() + 1         // round up: a 0 ms poll would spin until the deadline
		n, _, errno := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(ms))
		if errno == syscall.EINTR || (errno == 0 && n == 0) {
			continue // interrupted, or timed out: the deadline check decides
		}
		if errno != 0 {
			return "", false
		}
		var b [1]byte
		read, err := syscall.Read(fd, b[:])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil || read <= 0 || b[0] == '\n' {
			return string(buffer), true
		}
		if len(buffer) < maxAnswerBytes {
			buffer = append(buffer, b[0])
		}
	}
}
