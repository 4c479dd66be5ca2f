#pragma once
/// The agent's settings: limits, retention, store tuning and the forwarder's options, read from an
/// INI file (`agent.conf` in the config dir, or `--config`). Every key is optional; an unknown
/// section or key is a start-up error, so a typo never silently leaves a default in place.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "tk/agent/forwarder.hpp"
#include "tk/agent/manifest_fetch.hpp"

namespace tk::agent {

/// The longest idle_exit accepted (a year); "never" is 0.
inline constexpr std::uint64_t kMaxIdleExitSeconds = 365ull * 24 * 3600;

struct AgentConfig {
    // [agent]
    /// Socket-activated only: exit after this long with no client connection and nothing the
    /// forwarder could send; the service manager starts the agent again on the next connection.
    /// 0 = never. (`tk-agent --idle-exit` wins.)
    std::chrono::seconds idle_exit{900};
    /// A client connection with no frame for this long is closed (0 = never); one the agent owes a
    /// reply, or has paused itself, is not idle.
    std::chrono::seconds connection_idle_timeout{60};
    /// Connections at once; one more is accepted and closed at once (logged, at most every 10 s).
    std::size_t max_connections = 1024;

    // [queue]
    std::size_t max_queue_events = 100'000;             ///< past it the oldest queued events are shed
    std::size_t max_queue_bytes = 64u << 20;            ///< serialized event bytes, same
    std::chrono::hours retention{24 * 30};              ///< queued events older than this expire
    std::size_t max_dead_letters = 10'000;              ///< dead letters (and refused erasures) kept, at most
    std::chrono::hours dead_letter_retention{24 * 30};  ///< and for at most this long

    // [store]
    std::size_t max_commit_events = 8192;         ///< events per group commit, at most
    std::chrono::microseconds commit_wait{1000};  ///< wait for more events to share a commit
    bool synchronous_full = false;                ///< PRAGMA synchronous=FULL instead of NORMAL

    // [log]
    std::string log_level = "info";

    // [forwarder]
    ForwarderOptions forwarder;
    bool sent_log = true;  ///< keep a local log of what was sent

    // [manifest]
    ManifestOptions manifest;
};

/// Reads `file`. A missing file gives the defaults unless `must_exist`. Throws std::runtime_error
/// naming the file and key on a parse error, a bad value or an unknown key.
AgentConfig load_config(const std::filesystem::path& file, bool must_exist);

/// The config file with every key and its default, commented (for docs and `tk-agent --print-config`).
std::string default_config_text();

}  // namespace tk::agent
