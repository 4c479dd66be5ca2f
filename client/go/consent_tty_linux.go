package telemetrykit

// The terminal side of the consent prompt on Linux: isatty (TCGETS) and a line read with a
// deadline (ppoll, then read(2) byte by byte, so nothing past the answer's line is consumed).

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

func isTerminal(f *os.File) bool {
	var termios syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&termios)))
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
		ts := syscall.NsecToTimespec(left.Nanoseconds())
		n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
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
