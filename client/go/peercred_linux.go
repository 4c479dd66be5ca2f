package telemetrykit

import (
	"net"
	"syscall"
)

// peerUID: the uid of the process listening on the other end (SO_PEERCRED).
func peerUID(conn *net.UnixConn) (uint32, bool) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *syscall.Ucred
	var credErr error
	if raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}) != nil || credErr != nil {
		return 0, false
	}
	return cred.Uid, true
}
