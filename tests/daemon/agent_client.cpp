#include "agent_client.hpp"

#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tk/common/framing.hpp"
#include "tk/common/unix_socket.hpp"
#include "tk/common/uuid.hpp"

namespace tk::test {
namespace v1 = telemetry_kit::v1;

AgentClient::AgentClient(const std::filesystem::path& socket) {
    fd_ = unix_socket::connect_stream(socket);
    if (fd_ < 0) throw std::runtime_error("connect " + socket.string() + ": " + std::strerror(errno));
}

AgentClient::~AgentClient() {
    if (fd_ >= 0) ::close(fd_);
}

bool AgentClient::send_raw(const std::string& bytes) { return unix_socket::send_all(fd_, bytes); }

bool AgentClient::send(const v1::ClientFrame& frame) {
    std::string bytes;
    framing::append_message(bytes, frame);
    return send_raw(bytes);
}

bool AgentClient::hello(const v1::ToolIdentity& tool, const v1::OptOutSignals& signals) {
    v1::ClientFrame frame;
    frame.mutable_hello()->set_protocol_version(1);
    *frame.mutable_hello()->mutable_tool() = tool;
    *frame.mutable_hello()->mutable_signals() = signals;
    return send(frame);
}

bool AgentClient::event(const v1::Event& event) {
    v1::ClientFrame frame;
    *frame.mutable_event() = event;
    return send(frame);
}

std::optional<v1::AgentReply> AgentClient::receive(std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        framing::FrameDecoder decoder(framing::kMaxReplyFrameBytes);
        decoder.feed(buffer_);
        std::string_view payload;
        if (decoder.next(payload) == framing::FrameDecoder::Status::frame) {
            v1::AgentReply reply;
            const bool ok = reply.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
            buffer_.erase(0, framing::kHeaderBytes + payload.size());
            if (!ok) return std::nullopt;
            return reply;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char chunk[65536];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return std::nullopt;
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

std::optional<v1::FlushAck> AgentClient::flush(std::chrono::milliseconds deadline) {
    const std::uint64_t id = next_request_++;
    v1::ClientFrame frame;
    frame.mutable_flush()->set_request_id(id);
    frame.mutable_flush()->set_deadline_ms(static_cast<std::uint32_t>(deadline.count()));
    if (!send(frame)) return std::nullopt;
    for (;;) {
        auto reply = receive(deadline);
        if (!reply) return std::nullopt;
        if (reply->has_flush_ack() && reply->flush_ack().request_id() == id) return reply->flush_ack();
    }
}

std::optional<v1::ControlResponse> AgentClient::control(v1::ControlRequest request,
                                                        std::chrono::milliseconds deadline) {
    const std::uint64_t id = next_request_++;
    request.set_request_id(id);
    v1::ClientFrame frame;
    *frame.mutable_control() = std::move(request);
    if (!send(frame)) return std::nullopt;
    for (;;) {
        auto reply = receive(deadline);
        if (!reply) return std::nullopt;
        if (reply->has_control() && reply->control().request_id() == id) return reply->control();
    }
}

bool AgentClient::closed_by_agent(std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char chunk[65536];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) return true;
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

v1::ToolIdentity tool_identity(const std::string& name, bool opt_out) {
    v1::ToolIdentity tool;
    tool.set_tool(name);
    tool.set_version("1.0.0");
    tool.set_consent_mode(opt_out ? v1::CONSENT_MODE_OPT_OUT : v1::CONSENT_MODE_OPT_IN);
    return tool;
}

v1::Event make_event(const std::string& name, std::optional<std::uint64_t> unix_ms) {
    static thread_local UuidV7Generator generator;
    v1::Event event;
    // A generator never goes back in time, so an id from the past needs a fresh one.
    const Uuid id = unix_ms ? UuidV7Generator().next_at(*unix_ms) : generator.next();
    event.set_id(to_bytes(id));
    event.set_name(name);
    event.set_kind(v1::EVENT_KIND_COMMAND);
    event.set_timestamp_unix_ms(static_cast<std::int64_t>(unix_ms ? *unix_ms : uuid_v7_unix_ms(id)));
    return event;
}

v1::ControlRequest status_request() {
    v1::ControlRequest request;
    request.set_caller(v1::CALLER_PERSON);  // as tk sends it
    request.mutable_status();
    return request;
}

v1::ControlRequest consent_request(v1::ConsentRequest::Action action, const std::string& tool, bool all) {
    v1::ControlRequest request;
    request.set_caller(v1::CALLER_PERSON);  // as tk sends it
    request.mutable_consent()->set_action(action);
    request.mutable_consent()->set_tool(tool);
    request.mutable_consent()->set_all(all);
    return request;
}

v1::ControlRequest events_request(const std::string& tool, std::uint32_t limit) {
    v1::ControlRequest request;
    request.set_caller(v1::CALLER_PERSON);  // as tk sends it
    request.mutable_events()->set_tool(tool);
    request.mutable_events()->set_limit(limit);
    return request;
}

v1::ControlRequest forget_request(const std::string& tool) {
    v1::ControlRequest request;
    request.set_caller(v1::CALLER_PERSON);  // as tk sends it
    request.mutable_forget()->set_tool(tool);
    return request;
}

const v1::ToolStatus* find_tool(const v1::StatusResponse& status, const std::string& tool) {
    for (const auto& entry : status.tools()) {
        if (entry.tool() == tool) return &entry;
    }
    return nullptr;
}

std::uint64_t dropped(const v1::StatusResponse& status, const std::string& tool, const std::string& reason) {
    const auto* entry = find_tool(status, tool);
    if (entry == nullptr) return 0;
    for (const auto& count : entry->dropped()) {
        if (count.reason() == reason) return count.count();
    }
    return 0;
}

}  // namespace tk::test

#include <fstream>

namespace tk::test {

RunningAgent::RunningAgent(const std::string& config, std::vector<std::string> extra_args,
                           std::optional<unsigned long> max_open_files)
    : dir_("tk-agent-"), extra_args_(std::move(extra_args)), max_open_files_(max_open_files) {
    if (!config.empty()) std::ofstream(config_file()) << config;
    start();
}

RunningAgent::~RunningAgent() {
    if (process_ && process_->running()) process_->stop(5s);
}

std::map<std::string, std::string> RunningAgent::env() const {
    auto env = hermetic_env(dir_.path());
    env["TELEMETRY_KIT_SOCKET"] = socket().string();
    env["TELEMETRY_KIT_HOME"] = home().string();
    return env;
}

void RunningAgent::start() {
    ProcessOptions options;
    options.argv = {
        binary("tk-agent").string(), "--socket", socket().string(), "--home", home().string(), "--log-level", "debug"};
    if (fs::exists(config_file())) {
        options.argv.push_back("--config");
        options.argv.push_back(config_file().string());
    }
    options.argv.insert(options.argv.end(), extra_args_.begin(), extra_args_.end());
    options.env = env();
    options.stderr_file = dir_.path() / "agent.log";
    options.stdout_file = dir_.path() / "agent.out";
    options.max_open_files = max_open_files_;
    process_.reset();
    process_.emplace(options);
    if (!wait_for_unix_socket(socket(), 10s)) {
        throw std::runtime_error("tk-agent did not start listening; its log:\n" + log());
    }
}

RunResult RunningAgent::tk(std::vector<std::string> args) const {
    ProcessOptions options;
    options.argv = {binary("tk").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = env();
    return run(options, 10s);
}

long long RunningAgent::dead_letter_rows() const {
    long long rows = -1;
    sqlite3* db = nullptr;
    const auto file = home() / "queue.db";
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM dead_letters", -1, &statement, nullptr) == SQLITE_OK &&
            sqlite3_step(statement) == SQLITE_ROW) {
            rows = sqlite3_column_int64(statement, 0);
        }
        sqlite3_finalize(statement);
    }
    sqlite3_close(db);
    return rows;
}

int RunningAgent::stop() { return process_ ? process_->stop(10s) : -1; }

void RunningAgent::kill() {
    if (process_) process_->kill();
}

v1::ControlResponse RunningAgent::control(v1::ControlRequest request) {
    AgentClient client(socket());
    request.set_caller(v1::CALLER_PERSON);  // this is tk's role in the tests
    auto response = client.control(request);
    if (!response) throw std::runtime_error("no control reply from the agent");
    if (!response->error().empty()) throw std::runtime_error("control error: " + response->error());
    return *response;
}

}  // namespace tk::test
