// The tk commands (commands.hpp): status, consent, events, flush, forget and track — each one
// control request to the agent (call()) and the printing of its answer, in text or JSON.
#include "commands.hpp"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <deque>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "agent_connection.hpp"
#include "environment.hpp"  // the client library's internals: opt-out rules, spool
#include "spool.hpp"
#include "tk/common/ci.hpp"
#include "tk/common/paths.hpp"
#include "tk/common/uuid.hpp"

namespace tk::cli {
namespace v1 = telemetry_kit::v1;

namespace {

constexpr std::chrono::seconds kControlDeadline{30};

/// No agent answers on the socket (or an impostor holds it): what to tell the person.
Error not_running_error(const Common& common, const std::string& refused = {}) {
    return Error{refused.empty() ? "telemetry-kit agent is not running (no agent at " + common.socket.string() + ")"
                                 : "telemetry-kit agent is not running: " + refused,
                 kExitNoAgent};
}

/// Prints a failed call's message; returns its exit code.
int report(const Error& error) {
    std::cerr << error.message << "\n";
    return error.code;
}

int not_running(const Common& common, const std::string& refused = {}) {
    return report(not_running_error(common, refused));
}

/// Sends one control request and waits for its reply; else the message and exit code of why not.
Result<v1::ControlResponse> call(const Common& common, v1::ControlRequest request) {
    std::string refused;
    auto connection = AgentConnection::connect(common.socket, refused);
    if (!connection) return not_running_error(common, refused);
    request.set_request_id(1);
    request.set_caller(v1::CALLER_PERSON);  // the person's own command: may change any choice
    v1::ClientFrame frame;
    *frame.mutable_control() = std::move(request);
    if (!connection->send(frame)) return Error{"tk: cannot send to the agent", kExitFailed};
    for (;;) {
        auto reply = connection->receive(kControlDeadline);
        if (!reply) return Error{"tk: " + reply.error(), kExitFailed};
        if (reply->has_error())
            return Error{"tk: the agent refused the request: " + reply->error().reason(), kExitFailed};
        if (reply->has_control() && reply->control().request_id() == 1) {
            if (!reply->control().error().empty()) return Error{"tk: " + reply->control().error(), kExitFailed};
            return std::move(*reply->mutable_control());
        }
    }
}

int print_json(const google::protobuf::Message& message) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.always_print_primitive_fields = true;
    options.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
        std::cerr << "tk: cannot print the reply as JSON\n";
        return kExitFailed;
    }
    std::cout << json;
    if (json.empty() || json.back() != '\n') std::cout << "\n";
    return kExitOk;
}

std::string consent_name(v1::Consent consent) {
    switch (consent) {
        case v1::CONSENT_GRANTED: return "granted";
        case v1::CONSENT_DENIED: return "denied";
        default: return "unset";
    }
}

std::string mode_name(v1::ConsentMode mode) { return mode == v1::CONSENT_MODE_OPT_OUT ? "opt-out" : "opt-in"; }

/// What consent means for this tool right now, in words.
std::string effective(v1::Consent global, v1::Consent consent, v1::ConsentMode mode) {
    if (global == v1::CONSENT_DENIED) return "off (global switch)";
    if (consent == v1::CONSENT_GRANTED) return "on (granted)";
    if (consent == v1::CONSENT_DENIED) return "off (denied)";
    return mode == v1::CONSENT_MODE_OPT_OUT ? "on (opt-out tool, not denied)" : "off (opt-in tool, not granted)";
}

std::string bytes_text(std::uint64_t bytes) {
    std::ostringstream out;
    if (bytes < 1024) {
        out << bytes << " B";
    } else if (bytes < (1u << 20)) {
        out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / 1024 << " KiB";
    } else {
        out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1u << 20) << " MiB";
    }
    return out.str();
}

std::string time_text(std::int64_t unix_ms) {
    if (unix_ms <= 0) return "never";
    const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

std::string duration_text(std::int64_t seconds) {
    std::ostringstream out;
    if (seconds >= 86400) out << seconds / 86400 << "d ";
    if (seconds >= 3600) out << (seconds % 86400) / 3600 << "h ";
    if (seconds >= 60) out << (seconds % 3600) / 60 << "m ";
    out << seconds % 60 << "s";
    return out.str();
}

std::string value_text(const v1::AttributeValue& value) {
    switch (value.value_case()) {
        case v1::AttributeValue::kStringValue: return '"' + value.string_value() + '"';
        case v1::AttributeValue::kIntValue: return std::to_string(value.int_value());
        case v1::AttributeValue::kDoubleValue: {
            std::ostringstream out;
            out << value.double_value();
            return out.str();
        }
        case v1::AttributeValue::kBoolValue: return value.bool_value() ? "true" : "false";
        default: return "null";
    }
}

void print_consent(const v1::ConsentResponse& response) {
    std::cout << "global switch: " << (response.global_consent() == v1::CONSENT_DENIED ? "off" : "on") << "\n";
    if (response.tools_size() == 0) {
        std::cout << "no tools known yet\n";
        return;
    }
    std::cout << std::left << std::setw(24) << "TOOL" << std::setw(10) << "CONSENT" << std::setw(9) << "MODE"
              << "TELEMETRY\n";
    for (const auto& tool : response.tools()) {
        std::cout << std::left << std::setw(24) << tool.tool() << std::setw(10) << consent_name(tool.consent())
                  << std::setw(9) << mode_name(tool.consent_mode())
                  << effective(response.global_consent(), tool.consent(), tool.consent_mode()) << "\n";
    }
}

}  // namespace

/// What `tk status` checks on this machine itself: a spool (or state dir) another user could
/// control is never written to, so events that cannot reach the agent are lost; say so.
static void print_spool_problem(const Common& common, std::ostream& out) {
    const Paths paths = resolve_paths();
    if (common.socket != paths.socket) return;  // another agent's state dir is unknown
    const std::string problem = telemetry_kit::detail::SpoolWriter::problem(paths.state_dir);
    if (!problem.empty()) {
        out << "spool: " << problem
            << "; telemetry-kit writes nothing there, so events that cannot reach the agent "
               "are dropped\n";
    }
}

/// The torn-spool condition, from the agent's imports since it started.
static void print_spool_damage(const v1::SpoolStatus& spool, std::ostream& out) {
    if (spool.damaged_spans() > 0) {
        out << "spool: torn or corrupt — " << spool.damaged_spans() << " damaged stretch(es), "
            << bytes_text(spool.damaged_bytes()) << ", skipped since the agent started (last "
            << time_text(spool.last_damage_unix_ms())
            << "). A tool was stopped while writing to it, or the disk damaged it; the events in those stretches are "
               "lost, the ones around them were imported\n";
    }
    if (spool.unreadable_records() > 0) {
        out << "spool: " << spool.unreadable_records()
            << " record(s) were intact but unusable (not an event this agent understands) and were skipped\n";
    }
}

/// Erasures a collector refused, in words: the person asked for their data to be deleted and it
/// may not have been.
static void print_refused_erasures(const v1::StatusResponse& status) {
    for (const auto& tool : status.tools()) {
        for (const auto& refused : tool.refused_erasures()) {
            std::string reason = refused.reason();
            if (const std::string prefix = "erasure refused: "; reason.rfind(prefix, 0) == 0)
                reason.erase(0, prefix.size());
            std::cout << "  " << tool.tool() << ": the collector at " << refused.endpoint()
                      << " refused to delete what it holds under the tool's old anonymous id (tk forget, "
                      << time_text(refused.requested_unix_ms()) << "): " << reason
                      << ". It may still have that data; ask the tool's authors to delete it.\n";
        }
    }
}

/// Tools whose collector paused them (quota_exceeded), in words: why nothing of theirs is sent.
static void print_paused_tools(const v1::StatusResponse& status) {
    for (const auto& tool : status.tools()) {
        if (tool.paused_until_unix_ms() <= 0) continue;
        const std::time_t seconds = static_cast<std::time_t>(tool.paused_until_unix_ms() / 1000);
        std::tm tm{};
        gmtime_r(&seconds, &tm);
        char until[32];
        std::strftime(until, sizeof until, "%Y-%m-%d %H:%M UTC", &tm);
        std::cout << "  tool " << tool.tool() << ": paused by collector ("
                  << (tool.paused_reason().empty() ? "monthly quota" : tool.paused_reason()) << ") until " << until
                  << "; its " << tool.queued() << " queued event(s) stay here and are sent then\n";
    }
}

int status(const Common& common) {
    const auto response = call(common, [] {
        v1::ControlRequest request;
        request.mutable_status();
        return request;
    }());
    if (!response) {
        const int exit_code = report(response.failure());
        print_spool_problem(common, std::cerr);
        return exit_code;
    }
    const auto& status = response->status();
    if (common.json) return print_json(status);

    std::cout << "telemetry-kit agent " << status.agent_version() << ", up " << duration_text(status.uptime_s())
              << ", socket " << common.socket.string() << "\n";
    std::cout << "global switch: "
              << (status.global_consent() == v1::CONSENT_DENIED ? "off (tk consent deny --all)" : "on") << "\n";
    std::cout << "queue: " << status.queue_events() << " events, " << bytes_text(status.queue_bytes()) << " (limits "
              << status.max_queue_events() << " events, " << bytes_text(status.max_queue_bytes()) << ")";
    if (status.oldest_event_unix_ms() > 0) std::cout << ", oldest " << time_text(status.oldest_event_unix_ms());
    std::cout << "\n";
    print_spool_problem(common, std::cout);
    if (!status.forwarder_error().empty()) {
        std::cout << "forwarding: paused, the agent cannot read its own queue (" << status.forwarder_error()
                  << "); nothing is lost, it tries again by itself\n";
    }
    print_spool_damage(status.spool(), std::cout);
    if (status.tools_size() == 0) {
        std::cout << "no tools have sent events yet\n";
    } else {
        std::cout << "\n"
                  << std::left << std::setw(20) << "TOOL" << std::setw(9) << "CONSENT" << std::setw(9) << "MODE"
                  << std::right << std::setw(8) << "QUEUED" << std::setw(7) << "SHED" << std::setw(9) << "EXPIRED"
                  << std::setw(6) << "DEAD"
                  << "  DROPPED\n";
        for (const auto& tool : status.tools()) {
            std::string dropped;
            for (const auto& count : tool.dropped()) {
                dropped += (dropped.empty() ? "" : " ") + count.reason() + "=" + std::to_string(count.count());
            }
            std::cout << std::left << std::setw(20) << tool.tool() << std::setw(9) << consent_name(tool.consent())
                      << std::setw(9) << mode_name(tool.consent_mode()) << std::right << std::setw(8) << tool.queued()
                      << std::setw(7) << tool.shed() << std::setw(9) << tool.expired() << std::setw(6)
                      << tool.dead_lettered() << "  " << (dropped.empty() ? "-" : dropped) << "\n";
        }
        print_refused_erasures(status);
        print_paused_tools(status);
        for (const auto& tool : status.tools()) {
            std::cout << "  " << tool.tool() << " sends to "
                      << (tool.local_only()         ? "nowhere (local only)"
                          : tool.endpoint().empty() ? "nowhere (no collector)"
                                                    : tool.endpoint());
            if (tool.manifest_version() > 0) {
                std::cout << ", only what its manifest version " << tool.manifest_version() << " allows (tk manifest "
                          << tool.tool() << ")";
            }
            if (tool.manifest_held() > 0) {
                std::cout << "; " << tool.manifest_held()
                          << " events held in memory until its collector answers for its required manifest";
            }
            std::cout << "\n";
        }
    }
    if (status.destinations_size() > 0) {
        std::cout << "\ndestinations:\n";
        for (const auto& destination : status.destinations()) {
            std::cout << "  " << destination.endpoint() << ": queued " << destination.queued() << ", sent "
                      << destination.sent() << ", dead-lettered " << destination.dead_lettered() << ", last sync "
                      << time_text(destination.last_attempt_unix_ms());
            if (destination.last_attempt_unix_ms() > 0) {
                std::cout << " (" << (destination.last_error().empty() ? "ok" : destination.last_error()) << ")";
            }
            if (destination.next_retry_unix_ms() > 0) {
                std::cout << ", next retry " << time_text(destination.next_retry_unix_ms());
            }
            std::cout << "\n";
        }
    }
    return kExitOk;
}

int consent(const Common& common, const std::string& action, const std::string& tool, bool all) {
    v1::ControlRequest request;
    auto* consent = request.mutable_consent();
    if (action == "grant") {
        consent->set_action(v1::ConsentRequest::ACTION_GRANT);
    } else if (action == "deny") {
        consent->set_action(v1::ConsentRequest::ACTION_DENY);
    } else if (action == "reset") {
        consent->set_action(v1::ConsentRequest::ACTION_RESET);
    } else {
        consent->set_action(v1::ConsentRequest::ACTION_STATUS);
    }
    if (action != "status" && tool.empty() && !all) {
        std::cerr << "tk consent " << action << ": name a TOOL, or --all for every tool and the global switch\n";
        return kExitUsage;
    }
    if (!tool.empty() && all) {
        std::cerr << "tk consent " << action << ": give a TOOL or --all, not both\n";
        return kExitUsage;
    }
    consent->set_tool(tool);
    consent->set_all(all);
    const auto response = call(common, request);
    if (!response) return report(response.failure());
    if (common.json) return print_json(response->consent());
    if (action != "status") {
        std::cout << "consent "
                  << (action == "grant"  ? "granted"
                      : action == "deny" ? "denied"
                                         : "reset")
                  << " for " << (all ? std::string("every tool") : tool) << "\n";
    }
    print_consent(response->consent());
    return kExitOk;
}

// The agent's platform facts as one short phrase: "linux (debian 12) x86_64, agent 0.1.0".
static std::string platform_text(const v1::Event& event) {
    std::string text = event.os().empty() ? "unknown" : event.os();
    if (!event.os_version().empty()) text += " (" + event.os_version() + ")";
    if (!event.arch().empty()) text += " " + event.arch();
    if (!event.agent_version().empty()) text += ", agent " + event.agent_version();
    return text;
}

int events(const Common& common, const std::string& tool, unsigned limit) {
    v1::ControlRequest request;
    request.mutable_events()->set_tool(tool);
    request.mutable_events()->set_limit(limit);
    const auto response = call(common, request);
    if (!response) return report(response.failure());
    const auto& events = response->events();
    if (common.json) return print_json(events);
    for (const auto& event : events.events()) {
        std::cout << time_text(event.timestamp_unix_ms()) << "  " << event.tool() << " " << event.tool_version() << "  "
                  << event.name();
        if (event.has_success()) std::cout << " success=" << (event.success() ? "true" : "false");
        if (event.has_exit_code()) std::cout << " exit_code=" << event.exit_code();
        if (event.has_duration_us()) std::cout << " duration_us=" << event.duration_us();
        if (event.ci()) std::cout << " ci=true";
        std::map<std::string, std::string> attributes;  // sorted, for a stable display
        for (const auto& [key, value] : event.attributes()) attributes[key] = value_text(value);
        for (const auto& [key, value] : attributes) std::cout << " " << key << "=" << value;
        std::cout << "  [id " << uuid_bytes_to_string(event.id()) << ", anonymous id " << event.anonymous_id()
                  << ", platform " << platform_text(event) << "]\n";
    }
    std::cout << events.events_size() << " of " << events.total() << " queued events shown"
              << (tool.empty() ? "" : " for " + tool) << "\n";
    return kExitOk;
}

int manifest(const Common& common, const std::string& tool) {
    v1::ControlRequest request;
    request.mutable_manifest()->set_tool(tool);
    const auto response = call(common, request);
    if (!response) return report(response.failure());
    const auto& answer = response->manifest();
    if (common.json) return print_json(answer);
    if (answer.known()) {
        std::cout << answer.description();
    } else {
        std::cout << tool << " has no manifest here: the agent's usual rules apply (policy, consent, scrubbing), "
                  << "but not a published list of what it may send.\n";
    }
    if (!answer.endpoint().empty()) {
        std::cout << "From " << answer.endpoint() << ", last confirmed " << time_text(answer.fetched_unix_ms());
        if (!answer.fetch_error().empty()) std::cout << "; the last refresh failed: " << answer.fetch_error();
        std::cout << "\n";
    }
    return kExitOk;
}

int flush(const Common& common) {
    v1::ControlRequest request;
    request.mutable_flush();
    const auto response = call(common, request);
    if (!response) return report(response.failure());
    if (common.json) return print_json(response->flush());
    std::cout << "committed; " << response->flush().queue_events() << " events queued, forwarder notified\n";
    return kExitOk;
}

int forget(const Common& common, const std::string& tool, bool all) {
    if (tool.empty() == !all) {
        std::cerr << "tk forget: name a TOOL, or --all for every tool\n";
        return kExitUsage;
    }
    v1::ControlRequest request;
    request.mutable_forget()->set_tool(tool);
    const auto response = call(common, request);
    if (!response) return report(response.failure());
    const auto& forget = response->forget();
    if (common.json) return print_json(forget);
    std::cout << "deleted " << forget.deleted_events() << " local events; new anonymous id for";
    if (forget.tools_size() == 0) std::cout << " no tool";
    for (const auto& name : forget.tools()) std::cout << " " << name;
    std::cout << "\nthe collector of each tool will be asked to erase what it holds for the old id\n";
    return kExitOk;
}

namespace {

/// key=value: an int, a double, true/false, else a string.
bool parse_attribute(const std::string& text, v1::Event& event) {
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0) return false;
    const std::string key = text.substr(0, equals);
    const std::string value = text.substr(equals + 1);
    auto& attribute = (*event.mutable_attributes())[key];
    if (value == "true" || value == "false") {
        attribute.set_bool_value(value == "true");
        return true;
    }
    if (!value.empty()) {
        char* end = nullptr;
        errno = 0;
        const long long integer = std::strtoll(value.c_str(), &end, 10);
        if (errno == 0 && end != nullptr && *end == '\0') {
            attribute.set_int_value(integer);
            return true;
        }
        errno = 0;
        const double number = std::strtod(value.c_str(), &end);
        if (errno == 0 && end != nullptr && *end == '\0' && std::isfinite(number)) {
            attribute.set_double_value(number);
            return true;
        }
    }
    attribute.set_string_value(value);
    return true;
}

/// No agent on the per-user socket: append the event to the spool, as the client library does, for
/// the agent to import (under the same policy) when it starts. Opted out: write nothing at all.
int spool_event(const Common& common, const v1::Hello& hello, const v1::Event& event, const Uuid& id,
                const std::string& refused) {
    namespace detail = telemetry_kit::detail;
    const Paths paths = resolve_paths();
    // Another socket's agent keeps its spool in a state dir we cannot know.
    if (common.socket != paths.socket) return not_running(common, refused);
    const std::string absent = refused.empty() ? "the agent is not running (no agent at " + common.socket.string() + ")"
                                               : "the agent is not reachable: " + refused;
    const auto& signals = hello.signals();
    if (detail::truthy(signals.do_not_track_set() ? signals.do_not_track().c_str() : nullptr) ||
        detail::truthy(signals.tool_disabled_set() ? signals.tool_disabled().c_str() : nullptr)) {
        if (common.json) {
            std::cout << "{\"spooled\": false, \"reason\": \"opted out\"}\n";
        } else {
            std::cout << "not recorded: DO_NOT_TRACK or " << detail::tool_disabled_variable(hello.tool().tool())
                      << " is set (and the agent is not running)\n";
        }
        return kExitOk;
    }
    detail::SpoolWriter writer(paths.state_dir, detail::wire::spool_record_prefix(hello.tool().SerializeAsString(),
                                                                                  signals.SerializeAsString()));
    std::deque<std::string> events{event.SerializeAsString()};
    if (writer.append(events).spooled != 1) {
        std::cerr << "tk track: " << absent << "; and the spool " << paths.spool().string() << " "
                  << (writer.refused().empty() ? "is full or not writable" : "is refused: " + writer.refused())
                  << "; the event is not recorded\n";
        return kExitNoAgent;
    }
    if (common.json) {
        std::cout << "{\"spooled\": true, \"id\": \"" << to_string(id) << "\"}\n";
    } else {
        std::cout << "spooled " << hello.tool().tool() << " " << event.name() << " (id " << to_string(id)
                  << "): " << absent << "; it imports " << paths.spool().string() << " when it runs\n";
    }
    return kExitOk;
}

}  // namespace

int track(const Common& common, const TrackOptions& options) {
    v1::ClientFrame hello;
    auto* identity = hello.mutable_hello()->mutable_tool();
    hello.mutable_hello()->set_protocol_version(1);
    identity->set_tool(options.tool);
    identity->set_version(options.version);
    identity->set_endpoint(options.endpoint);
    identity->set_ingest_key(options.ingest_key);
    identity->set_consent_mode(options.opt_out ? v1::CONSENT_MODE_OPT_OUT : v1::CONSENT_MODE_OPT_IN);
    identity->set_allow_ci(options.allow_ci);
    identity->set_local_only(options.local_only);
    // The opt-out signals of this process's environment, raw: the agent decides.
    auto* signals = hello.mutable_hello()->mutable_signals();
    if (const char* dnt = std::getenv("DO_NOT_TRACK")) {
        signals->set_do_not_track(dnt);
        signals->set_do_not_track_set(true);
    }
    if (const char* disabled = std::getenv(telemetry_kit::detail::tool_disabled_variable(options.tool).c_str())) {
        signals->set_tool_disabled(disabled);
        signals->set_tool_disabled_set(true);
    }
    for (const char* ci : kCiVariables) {
        if (const char* value = std::getenv(ci); value != nullptr && *value != '\0') signals->add_ci_markers(ci);
    }

    v1::ClientFrame event_frame;
    auto* event = event_frame.mutable_event();
    const Uuid id = uuid_v7();
    event->set_id(to_bytes(id));
    event->set_name(options.event);
    event->set_timestamp_unix_ms(static_cast<std::int64_t>(uuid_v7_unix_ms(id)));
    event->set_kind(options.kind == "command"   ? v1::EVENT_KIND_COMMAND
                    : options.kind == "feature" ? v1::EVENT_KIND_FEATURE
                                                : v1::EVENT_KIND_CUSTOM);
    for (const auto& attribute : options.attributes) {
        if (!parse_attribute(attribute, *event)) {
            std::cerr << "tk track: attribute '" << attribute << "' is not key=value\n";
            return kExitUsage;
        }
    }

    std::string refused;
    auto connection = AgentConnection::connect(common.socket, refused);
    if (!connection) return spool_event(common, hello.hello(), event_frame.event(), id, refused);
    v1::ClientFrame flush;
    flush.mutable_flush()->set_request_id(1);
    flush.mutable_flush()->set_deadline_ms(options.timeout_ms);
    std::string error;
    if (!connection->send(hello) || !connection->send(event_frame) || !connection->send(flush)) {
        error = "cannot send to the agent";
    }
    while (error.empty()) {
        auto reply = connection->receive(std::chrono::milliseconds(options.timeout_ms));
        if (!reply) {
            error = reply.error();
            break;
        }
        if (reply->has_error()) {
            error = "the agent refused the event: " + reply->error().reason();
            break;
        }
        if (reply->has_flush_ack() && reply->flush_ack().request_id() == 1) {
            const auto& ack = reply->flush_ack();
            if (common.json) return print_json(ack);
            if (ack.accepted() > 0) {
                std::cout << "recorded " << options.tool << " " << options.event << " (id " << to_string(id) << ")\n";
            } else if (ack.duplicates() > 0) {
                std::cout << "already recorded (same id)\n";
            } else {
                std::cout << "not recorded: the agent's policy dropped it (tk status shows why)\n";
            }
            return kExitOk;
        }
    }
    std::cerr << "tk track: " << error << "\n";
    return kExitFailed;
}

}  // namespace tk::cli
