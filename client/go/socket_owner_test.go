package telemetrykit

// socketFileOwner is the peer check where Go has no SO_PEERCRED (peercred_other.go); it is built
// and tested on every platform.

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestSocketFileOwnerIsTheListenersFileOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.sock")
	listener, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	uid, ok := socketFileOwner(path)
	if !ok || uid != uint32(os.Geteuid()) {
		t.Fatalf("socket owner = %d, %v; want %d, true", uid, ok, os.Geteuid())
	}

	// Not a socket: a regular file, a symlink to the socket (lstat does not follow it), nothing.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.sock")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, link, filepath.Join(dir, "missing.sock")} {
		if _, ok := socketFileOwner(p); ok {
			t.Errorf("socketFileOwner(%s) accepted a path that is not a socket", p)
		}
	}
}
