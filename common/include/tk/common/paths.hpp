#pragma once
/// Per-user locations (DESIGN.md "Paths"), with the overrides tests and packagers use:
/// TELEMETRY_KIT_SOCKET for the socket, TELEMETRY_KIT_HOME for state and config.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tk/common/result.hpp"

namespace tk {

/// Where one user's agent lives.
struct Paths {
    std::filesystem::path socket;      ///< the agent's Unix socket
    std::filesystem::path state_dir;   ///< queue database, spool file, install secret
    std::filesystem::path config_dir;  ///< agent.conf

    std::filesystem::path database() const { return state_dir / "queue.db"; }
    std::filesystem::path spool() const { return state_dir / "spool"; }
    /// The spool the agent is importing (renamed from spool(), so clients start a new one).
    std::filesystem::path spool_importing() const { return state_dir / "spool.importing"; }
    std::filesystem::path install_secret() const { return state_dir / "install-secret"; }
    std::filesystem::path config_file() const { return config_dir / "agent.conf"; }
    std::filesystem::path sent_log() const { return state_dir / "sent.log"; }
    /// Held (flock) by the running agent: one agent per state dir.
    std::filesystem::path agent_lock() const { return state_dir / "agent.lock"; }
    /// The socket's place when there is no runtime dir (see resolve_paths).
    std::filesystem::path state_socket() const { return state_dir / "agent.sock"; }
    /// Every file telemetry-kit itself keeps in the state and config dirs (with SQLite's and the
    /// spool's companions): what `tk service uninstall --purge` deletes, and nothing else.
    std::vector<std::filesystem::path> owned_files() const;
};

/// Looks up an environment variable; returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

/// Resolves the paths from `env` (default: the process environment) and the user id.
/// Linux: state in $XDG_STATE_HOME/telemetry-kit/ (else ~/.local/state/telemetry-kit/),
/// config in $XDG_CONFIG_HOME/telemetry-kit/ (else ~/.config/telemetry-kit/).
/// macOS: state and config in ~/Library/Application Support/telemetry-kit/.
/// Socket: $XDG_RUNTIME_DIR/telemetry-kit/agent.sock, else agent.sock in the state dir (no other
/// user can pre-create it), else — if that path does not fit in sockaddr_un (kMaxSocketPathBytes) —
/// /tmp/telemetry-kit-<uid>/agent.sock, which clients and the agent refuse if another user owns it.
Paths resolve_paths(const EnvLookup& env = nullptr);

/// Bytes in sockaddr_un::sun_path (108 on Linux, 104 on macOS), the terminating NUL included: a
/// socket path must be shorter than this.
inline constexpr std::size_t kMaxSocketPathBytes =
#ifdef __APPLE__
    104;
#else
    108;
#endif

/// The user's home directory: $HOME, else the password database's entry.
std::filesystem::path home_directory(const EnvLookup& env = nullptr);

/// Creates `dir` (and parents) if missing and makes it mode 0700 and owned by us; else says why not.
Result<void> ensure_private_dir(const std::filesystem::path& dir);

}  // namespace tk
