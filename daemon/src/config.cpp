// Reads agent.conf (config.hpp): every key checked, an unknown one is a start-up error.
#include "tk/agent/config.hpp"

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

namespace tk::agent {
namespace pt = boost::property_tree;

namespace {

std::uint64_t parse_unsigned(const std::string& key, const std::string& text) {
    std::size_t used = 0;
    unsigned long long value = 0;
    try {
        value = std::stoull(text, &used, 10);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || text.front() == '-') {
        throw std::runtime_error(fmt::format("{}: expected a non-negative integer, got '{}'", key, text));
    }
    return value;
}

bool parse_bool(const std::string& key, const std::string& text) {
    if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
    if (text == "false" || text == "no" || text == "off" || text == "0") return false;
    throw std::runtime_error(fmt::format("{}: expected true or false, got '{}'", key, text));
}

using Setter = std::function<void(AgentConfig&, const std::string& key, const std::string& value)>;

const std::map<std::string, Setter>& setters() {
    static const std::map<std::string, Setter> table = {
        {"agent.idle_exit_s",
         [](AgentConfig& c, auto& k, auto& v) {
             const std::uint64_t seconds = parse_unsigned(k, v);
             if (seconds > kMaxIdleExitSeconds) {
                 throw std::runtime_error(
                     fmt::format("{}: at most {} (a year); 0 = never, got '{}'", k, kMaxIdleExitSeconds, v));
             }
             c.idle_exit = std::chrono::seconds(seconds);
         }},
        {"agent.connection_idle_timeout_s",
         [](AgentConfig& c, auto& k, auto& v) {
             const std::uint64_t seconds = parse_unsigned(k, v);
             if (seconds > kMaxIdleExitSeconds) {
                 throw std::runtime_error(
                     fmt::format("{}: at most {} (a year); 0 = never, got '{}'", k, kMaxIdleExitSeconds, v));
             }
             c.connection_idle_timeout = std::chrono::seconds(seconds);
         }},
        {"agent.max_connections",
         [](AgentConfig& c, auto& k, auto& v) {
             c.max_connections = parse_unsigned(k, v);
             if (c.max_connections == 0) throw std::runtime_error(k + ": must be at least 1");
         }},
        {"queue.max_events", [](AgentConfig& c, auto& k, auto& v) { c.max_queue_events = parse_unsigned(k, v); }},
        {"queue.max_bytes", [](AgentConfig& c, auto& k, auto& v) { c.max_queue_bytes = parse_unsigned(k, v); }},
        {"queue.retention_days",
         [](AgentConfig& c, auto& k, auto& v) { c.retention = std::chrono::hours(24 * parse_unsigned(k, v)); }},
        {"queue.retention_hours",
         [](AgentConfig& c, auto& k, auto& v) { c.retention = std::chrono::hours(parse_unsigned(k, v)); }},
        {"queue.max_dead_letters", [](AgentConfig& c, auto& k, auto& v) { c.max_dead_letters = parse_unsigned(k, v); }},
        {"queue.dead_letter_retention_hours",
         [](AgentConfig& c, auto& k, auto& v) { c.dead_letter_retention = std::chrono::hours(parse_unsigned(k, v)); }},
        {"store.max_commit_events",
         [](AgentConfig& c, auto& k, auto& v) {
             c.max_commit_events = parse_unsigned(k, v);
             if (c.max_commit_events == 0) throw std::runtime_error(k + ": must be at least 1");
         }},
        {"store.commit_wait_us",
         [](AgentConfig& c, auto& k, auto& v) { c.commit_wait = std::chrono::microseconds(parse_unsigned(k, v)); }},
        {"store.synchronous",
         [](AgentConfig& c, auto& k, auto& v) {
             if (v != "normal" && v != "full")
                 throw std::runtime_error(k + ": expected normal or full, got '" + v + "'");
             c.synchronous_full = v == "full";
         }},
        {"log.level", [](AgentConfig& c, auto&, auto& v) { c.log_level = v; }},
        {"forwarder.max_batch_events",
         [](AgentConfig& c, auto& k, auto& v) { c.forwarder.max_batch_events = parse_unsigned(k, v); }},
        {"forwarder.max_batch_bytes",
         [](AgentConfig& c, auto& k, auto& v) { c.forwarder.max_batch_bytes = parse_unsigned(k, v); }},
        {"forwarder.coalesce_ms",
         [](AgentConfig& c, auto& k, auto& v) {
             c.forwarder.coalesce = std::chrono::milliseconds(parse_unsigned(k, v));
         }},
        {"forwarder.initial_backoff_ms",
         [](AgentConfig& c, auto& k, auto& v) {
             c.forwarder.initial_backoff = std::chrono::milliseconds(parse_unsigned(k, v));
         }},
        {"forwarder.max_backoff_s",
         [](AgentConfig& c, auto& k, auto& v) {
             c.forwarder.max_backoff = std::chrono::seconds(parse_unsigned(k, v));
         }},
        {"forwarder.request_timeout_s",
         [](AgentConfig& c, auto& k, auto& v) {
             c.forwarder.request_timeout = std::chrono::seconds(parse_unsigned(k, v));
         }},
        {"forwarder.ca_file", [](AgentConfig& c, auto&, auto& v) { c.forwarder.ca_file = v; }},
        {"manifest.refresh_s",
         [](AgentConfig& c, auto& k, auto& v) {
             c.manifest.refresh = std::chrono::seconds(parse_unsigned(k, v));
             if (c.manifest.refresh.count() == 0) throw std::runtime_error(k + ": must be at least 1");
         }},
        {"manifest.initial_backoff_ms",
         [](AgentConfig& c, auto& k, auto& v) {
             c.manifest.initial_backoff = std::chrono::milliseconds(std::max<std::uint64_t>(1, parse_unsigned(k, v)));
         }},
        {"forwarder.sent_log", [](AgentConfig& c, auto& k, auto& v) { c.sent_log = parse_bool(k, v); }},
    };
    return table;
}

}  // namespace

AgentConfig load_config(const std::filesystem::path& file, bool must_exist) {
    AgentConfig config;
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
        if (must_exist) throw std::runtime_error(fmt::format("config file {} does not exist", file.string()));
        return config;
    }
    pt::ptree tree;
    try {
        pt::ini_parser::read_ini(file.string(), tree);
    } catch (const pt::ini_parser_error& e) {
        throw std::runtime_error(fmt::format("config file {}: {}", file.string(), e.what()));
    }
    for (const auto& [section, keys] : tree) {
        if (keys.empty() && !keys.data().empty()) {
            throw std::runtime_error(
                fmt::format("config file {}: key '{}' must be inside a [section]", file.string(), section));
        }
        for (const auto& [key, value] : keys) {
            const std::string name = section + "." + key;
            const auto setter = setters().find(name);
            if (setter == setters().end()) {
                throw std::runtime_error(fmt::format("config file {}: unknown key '{}'", file.string(), name));
            }
            try {
                setter->second(config, name, value.data());
            } catch (const std::runtime_error& e) {
                throw std::runtime_error(fmt::format("config file {}: {}", file.string(), e.what()));
            }
        }
    }
    return config;
}

std::string default_config_text() {
    const AgentConfig d;
    return fmt::format(
        "# telemetry-kit agent configuration (INI). Every key is optional; an unknown key is an error.\n"
        "# Comments go on lines of their own.\n"
        "[agent]\n"
        "; when socket-activated (systemd, launchd): exit after this many seconds with no client connected\n"
        "; and nothing to send; the next connection starts the agent again. 0 = never (--idle-exit wins)\n"
        "idle_exit_s = {}\n"
        "; a client connection with no frame for this many seconds is closed (the client reconnects);\n"
        "; 0 = never\n"
        "connection_idle_timeout_s = {}\n"
        "; client connections at once; one more is accepted and closed at once (logged)\n"
        "max_connections = {}\n"
        "[queue]\n"
        "; past either bound the oldest queued events are shed (counted per tool)\n"
        "max_events = {}\n"
        "max_bytes = {}\n"
        "; queued events older than this expire (counted); or retention_hours\n"
        "retention_days = {}\n"
        "; events the collector refused (and refused erasures), kept for tk status: at most this many,\n"
        "; for at most this long\n"
        "max_dead_letters = 10000\n"
        "dead_letter_retention_hours = 720\n"
        "[store]\n"
        "; events per group commit, at most\n"
        "max_commit_events = {}\n"
        "; while events arrive, wait this long (microseconds) for more to share a commit; 0 = never\n"
        "commit_wait_us = {}\n"
        "; normal: a commit survives a crash of the agent; full: also a power loss (slower)\n"
        "synchronous = normal\n"
        "[log]\n"
        "; trace debug info warn error off (--log-level wins)\n"
        "level = {}\n"
        "[forwarder]\n"
        "max_batch_events = {}\n"
        "max_batch_bytes = {}\n"
        "coalesce_ms = {}\n"
        "initial_backoff_ms = {}\n"
        "max_backoff_s = {}\n"
        "request_timeout_s = {}\n"
        "; extra CA bundle (PEM) for a self-hosted collector; empty = the system's trust store only\n"
        "ca_file =\n"
        "; one line per sent batch in <state dir>/sent.log\n"
        "sent_log = true\n"
        "[manifest]\n"
        "; each tool's manifest is fetched from its collector again after this many seconds\n"
        "refresh_s = {}\n"
        "; first retry after a failed fetch (the cached manifest stays in force); doubles up to refresh_s\n"
        "initial_backoff_ms = {}\n",
        d.idle_exit.count(), d.connection_idle_timeout.count(), d.max_connections, d.max_queue_events,
        d.max_queue_bytes, d.retention.count() / 24, d.max_commit_events, d.commit_wait.count(), d.log_level,
        d.forwarder.max_batch_events, d.forwarder.max_batch_bytes, d.forwarder.coalesce.count(),
        d.forwarder.initial_backoff.count(),
        std::chrono::duration_cast<std::chrono::seconds>(d.forwarder.max_backoff).count(),
        std::chrono::duration_cast<std::chrono::seconds>(d.forwarder.request_timeout).count(),
        d.manifest.refresh.count(), d.manifest.initial_backoff.count());
}

}  // namespace tk::agent
