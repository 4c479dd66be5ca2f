package telemetrykit

// What the client reads from its process, once, in New: opt-out signals, debug mode and the
// per-user paths (the rules of common/src/paths.cpp).

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ciVariables mark a CI run by their presence (common/include/tk/common/ci.hpp).
var ciVariables = []string{
	"CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS",
	"JENKINS_URL", "BUILDKITE", "TEAMCITY_VERSION", "TF_BUILD", "APPVEYOR", "CODEBUILD_BUILD_ID",
	"BITBUCKET_BUILD_NUMBER", "DRONE", "SEMAPHORE", "HEROKU_TEST_RUN_ID",
}

// toolDisabledVariable: "my-cli" -> "MY_CLI_TELEMETRY_DISABLED" (A-Z, 0-9 kept, the rest '_').
func toolDisabledVariable(tool string) string {
	var b strings.Builder
	for i := 0; i < len(tool); i++ {
		c := tool[i]
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteByte(c - 'a' + 'A')
		case (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'):
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String() + "_TELEMETRY_DISABLED"
}

// truthy: set and not empty, "0" or "false" (any case) — the opt-out switches' rule.
func truthy(value *string) bool {
	return value != nil && *value != "" && *value != "0" && !strings.EqualFold(*value, "false")
}

func lookup(name string) *string {
	if v, ok := os.LookupEnv(name); ok {
		return &v
	}
	return nil
}

func nonEmpty(name string) string { return os.Getenv(name) }

func homeDir() string {
	if home := nonEmpty("HOME"); home != "" {
		return home
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return home
	}
	return fmt.Sprintf("/tmp/telemetry-kit-home-%d", os.Getuid())
}

// stateDir: TELEMETRY_KIT_HOME, else $XDG_STATE_HOME/telemetry-kit (~/.local/state/...); macOS:
// ~/Library/Application Support/telemetry-kit.
func stateDir() string {
	if dir := nonEmpty("TELEMETRY_KIT_HOME"); dir != "" {
		return dir
	}
	if runtime.GOOS == "darwin" {
		return filepath.Join(homeDir(), "Library", "Application Support", "telemetry-kit")
	}
	if state := nonEmpty("XDG_STATE_HOME"); state != "" {
		return filepath.Join(state, "telemetry-kit")
	}
	return filepath.Join(homeDir(), ".local", "state", "telemetry-kit")
}

// socketPath: TELEMETRY_KIT_SOCKET, else $XDG_RUNTIME_DIR/telemetry-kit/agent.sock, else agent.sock
// in the state dir, else (too long for sockaddr_un) /tmp/telemetry-kit-<uid>/agent.sock.
func socketPath(state string) string {
	if socket := nonEmpty("TELEMETRY_KIT_SOCKET"); socket != "" {
		return socket
	}
	if runtimeDir := nonEmpty("XDG_RUNTIME_DIR"); runtimeDir != "" {
		return filepath.Join(runtimeDir, "telemetry-kit", "agent.sock")
	}
	limit := 108
	if runtime.GOOS == "darwin" {
		limit = 104
	}
	if inState := filepath.Join(state, "agent.sock"); len(inState) < limit {
		return inState
	}
	return fmt.Sprintf("/tmp/telemetry-kit-%d/agent.sock", os.Getuid())
}
