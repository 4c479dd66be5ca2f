// The consent helpers of the public API (telemetry_kit/consent.hpp): one control round trip to
// the agent (agent_request) to read or record the person's answer, and the one-time prompt (ask_consent_once).
#include "telemetry_kit/consent.hpp"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "environment.hpp"
#include "tk/common/paths.hpp"
#include "tk/common/write_all.hpp"
#include "unix_socket.hpp"
#include "wire.hpp"

namespace telemetry_kit {
namespace {

std::atomic<std::uint64_t> g_request_id{1};

std::optional<detail::wire::Reply> consent_request(detail::wire::ConsentAction action, const std::string& tool,
                                                   std::chrono::milliseconds timeout) {
    const std::uint64_t id = g_request_id.fetch_add(1);
    const std::string frame = detail::wire::consent_request_frame(id, action, tool);
    auto answered = detail::agent_request(tk::resolve_paths().socket, frame, timeout);
    if (!answered) return std::nullopt;
    detail::wire::Reply& reply = *answered;
    if (reply.type != detail::wire::Reply::Type::control || reply.request_id != id || !reply.error.empty()) {
        return std::nullopt;
    }
    return std::move(reply);
}

/// The short form of the tool's manifest, if the agent enforces one ("" otherwise, or on any failure).
std::string manifest_summary(const std::string& tool, std::chrono::milliseconds timeout) {
    const std::uint64_t id = g_request_id.fetch_add(1);
    const std::string frame = detail::wire::manifest_request_frame(id, tool);
    auto answered = detail::agent_request(tk::resolve_paths().socket, frame, timeout);
    if (!answered) return {};
    const detail::wire::Reply& reply = *answered;
    if (reply.type != detail::wire::Reply::Type::control || reply.request_id != id || !reply.error.empty()) return {};
    return reply.manifest_known ? reply.manifest_summary : std::string();
}

/// The prompt goes to the terminal; one that is gone cannot be asked (read_answer times out).
void write_all(int fd, const std::string& text) { (void)tk::write_all(fd, text); }

// Reads one line from the terminal; nullopt on timeout, "" on end of input.
std::optional<std::string> read_answer(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string line;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return std::nullopt;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return std::nullopt;
        char c;
        const ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || c == '\n') return line;
        if (line.size() < 64) line += c;
    }
}

bool is_yes(std::string answer) {
    std::string word;
    for (const char c : answer) {
        if (!std::isspace(static_cast<unsigned char>(c)))
            word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return word == "y" || word == "yes";
}

}  // namespace

std::optional<Consent> consent_status(const std::string& tool, std::chrono::milliseconds timeout) noexcept {
    try {
        const auto reply = consent_request(detail::wire::ConsentAction::status, tool, timeout);
        if (!reply) return std::nullopt;
        if (reply->global_consent == detail::wire::ConsentValue::denied) return Consent::denied;
        for (const auto& entry : reply->tools) {
            if (entry.tool != tool) continue;
            if (entry.consent == detail::wire::ConsentValue::granted) return Consent::granted;
            if (entry.consent == detail::wire::ConsentValue::denied) return Consent::denied;
        }
        return Consent::unset;
    } catch (...) {
        return std::nullopt;
    }
}

bool record_consent(const std::string& tool, bool granted, std::chrono::milliseconds timeout) noexcept {
    try {
        const auto action = granted ? detail::wire::ConsentAction::grant : detail::wire::ConsentAction::deny;
        return consent_request(action, tool, timeout).has_value();
    } catch (...) {
        return false;
    }
}

ConsentOutcome ask_consent_once(const Config& config, const ConsentPromptOptions& options) noexcept {
    try {
        const bool opted_out = detail::truthy(std::getenv("DO_NOT_TRACK")) ||
                               detail::truthy(std::getenv(detail::tool_disabled_variable(config.tool).c_str()));
        const bool terminals = ::isatty(options.input_fd) == 1 && ::isatty(options.output_fd) == 1;
        if (const auto refusal = detail::consent_refusal(opted_out, config.consent_mode == ConsentMode::opt_out,
                                                         detail::in_ci(), terminals)) {
            return *refusal;
        }
        const auto current = consent_status(config.tool, options.agent_timeout);
        if (!current) return ConsentOutcome::not_asked_no_agent;
        if (*current == Consent::granted) return ConsentOutcome::already_granted;
        if (*current == Consent::denied) return ConsentOutcome::already_denied;

        // The tool's published manifest, which the agent enforces, says it best; else the tool's words.
        std::string what = manifest_summary(config.tool, options.agent_timeout);
        if (what.empty()) {
            what = options.what_is_collected.empty()
                       ? "which commands and features you use, how long they take, whether they succeed, and the "
                         "tool's version"
                       : options.what_is_collected;
        }
        const std::string destination =
            config.endpoint.empty() || config.local_only ? "kept on this machine" : "sent to " + config.endpoint;
        write_all(options.output_fd, config.tool + " would like to collect anonymous usage statistics: " + what + ", " +
                                         destination + ". Nothing identifies you.\nAllow? [y/N] ");
        const auto answer = read_answer(options.input_fd, options.answer_timeout);
        if (!answer) {
            write_all(options.output_fd, "\nNo answer: nothing is collected; you will be asked again.\n");
            return ConsentOutcome::no_answer;
        }
        const bool granted = is_yes(*answer);
        if (!record_consent(config.tool, granted, options.agent_timeout)) {
            // No agent, or the person chose meanwhile (`tk consent`), whose choice stands.
            write_all(options.output_fd,
                      "Could not record your answer (the telemetry agent did not respond or "
                      "already has a choice); nothing changes.\n");
            return ConsentOutcome::not_asked_no_agent;
        }
        write_all(options.output_fd,
                  std::string(granted ? "Thank you: usage statistics are on." : "Usage statistics are off.") +
                      " Change this any time with `tk consent " + (granted ? "deny " : "grant ") + config.tool +
                      "`.\n");
        return granted ? ConsentOutcome::granted : ConsentOutcome::denied;
    } catch (...) {
        return ConsentOutcome::not_asked_no_agent;
    }
}

const char* to_string(ConsentOutcome outcome) noexcept {
    switch (outcome) {
        case ConsentOutcome::granted: return "granted";
        case ConsentOutcome::denied: return "denied";
        case ConsentOutcome::already_granted: return "already_granted";
        case ConsentOutcome::already_denied: return "already_denied";
        case ConsentOutcome::not_asked_no_tty: return "not_asked_no_tty";
        case ConsentOutcome::not_asked_ci: return "not_asked_ci";
        case ConsentOutcome::not_asked_opted_out: return "not_asked_opted_out";
        case ConsentOutcome::not_asked_opt_out_tool: return "not_asked_opt_out_tool";
        case ConsentOutcome::not_asked_no_agent: return "not_asked_no_agent";
        case ConsentOutcome::no_answer: return "no_answer";
    }
    return "unknown";
}

}  // namespace telemetry_kit
