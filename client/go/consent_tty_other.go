//go:build !linux

package telemetrykit

import (
	"os"
	"time"
)

// isTerminal: outside Linux the Go client cannot check who listens on the agent's socket (no
// getpeereid() in the standard library, see peercred_other.go), so no answer could be recorded
// there: it never asks.
func isTerminal(f *os.File) bool { return false }

func readAnswer(f *os.File, timeout time.Duration) (string, bool) { return "", false }
