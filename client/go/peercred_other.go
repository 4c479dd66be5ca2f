//go:build !linux

package telemetrykit

import "net"

// peerUID: Go's standard library has no getpeereid() outside Linux, so the socket file's owner
// stands in for the peer's uid, as in the Node client: connectTrusted has already checked (lstat)
// that the socket's directory is ours and writable by no one else, so only our own processes (or
// root) can have made a socket there.
func peerUID(conn *net.UnixConn) (uint32, bool) {
	addr, ok := conn.RemoteAddr().(*net.UnixAddr)
	if !ok || addr.Name == "" {
		return 0, false
	}
	return socketFileOwner(addr.Name)
}
