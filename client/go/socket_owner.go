package telemetrykit

import (
	"os"
	"syscall"
)

// socketFileOwner: the uid owning the socket file at path (lstat: a symlink is not followed), or
// false if it is not a socket. Where there is no SO_PEERCRED (peercred_other.go) this is the peer
// check; built on every platform so that it is tested on Linux too.
func socketFileOwner(path string) (uint32, bool) {
	info, err := os.Lstat(path)
	if err != nil || info.Mode()&os.ModeSocket == 0 {
		return 0, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
