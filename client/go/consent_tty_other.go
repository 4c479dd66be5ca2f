//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package telemetrykit

import (
	"os"
	"time"
)

// isTerminal: on systems other than Linux, macOS and the BSDs (consent_tty_linux.go,
// consent_tty_bsd.go) the Go client has no terminal code (and no agent socket to record an answer
// with, on Windows): it never asks.
func isTerminal(f *os.File) bool { return false }

func readAnswer(f *os.File, timeout time.Duration) (string, bool) { return "", false }
