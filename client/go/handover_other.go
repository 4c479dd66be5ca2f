//go:build !linux

package telemetrykit

import "time"

// handOverRaw: only on Linux (SO_PEERCRED); elsewhere Close uses the net package's connection.
func (c *Client) handOverRaw(deadline time.Time) bool { return false }
