#pragma once
// The real agent for client tests: started on the test's socket and home, asked for what it
// stored through its own control command (`EventsRequest`, what `tk events` uses).

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "client_support.hpp"
#include "tk/common/framing.hpp"

namespace tk::test {

/// A control connection that stays open: many round trips, one accept() by the agent (so what
/// a test sees never depends on the agent noticing new connections).
class ControlConnection {
public:
    explicit ControlConnection(const fs::path& socket) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            if (fd_ >= 0) ::close(fd_);
            throw std::runtime_error("cannot connect to the agent");
        }
    }
    ~ControlConnection() { ::close(fd_); }
    ControlConnection(const ControlConnection&) = delete;
    ControlConnection& operator=(const ControlConnection&) = delete;

    telemetry_kit::v1::ControlResponse call(telemetry_kit::v1::ControlRequest request) {
        request.set_request_id(++request_id_);
        request.set_caller(telemetry_kit::v1::CALLER_PERSON);  // the test plays tk
        telemetry_kit::v1::ClientFrame frame;
        *frame.mutable_control() = request;
        std::string bytes;
        tk::framing::append_message(bytes, frame);
        if (::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
            throw std::runtime_error("cannot send to the agent");
        }
        std::string_view payload;
        char buffer[65536];
        while (decoder_.next(payload) != tk::framing::FrameDecoder::Status::frame) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 10000) <= 0) throw std::runtime_error("the agent did not answer");
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) throw std::runtime_error("the agent closed the connection");
            decoder_.feed(buffer, static_cast<std::size_t>(n));
        }
        telemetry_kit::v1::AgentReply reply;
        if (!reply.ParseFromArray(payload.data(), static_cast<int>(payload.size())) || !reply.has_control()) {
            throw std::runtime_error("unexpected reply");
        }
        if (!reply.control().error().empty()) throw std::runtime_error(reply.control().error());
        return reply.control();
    }

    /// What the agent has queued for `tool`.
    std::vector<telemetry_kit::v1::Event> events(const std::string& tool) {
        telemetry_kit::v1::ControlRequest request;
        request.mutable_events()->set_tool(tool);
        request.mutable_events()->set_limit(100000);
        const auto response = call(request);
        return {response.events().events().begin(), response.events().events().end()};
    }

private:
    int fd_ = -1;
    std::uint64_t request_id_ = 0;
    tk::framing::FrameDecoder decoder_{tk::framing::kMaxReplyFrameBytes};
};

class AgentUnderTest {
public:
    explicit AgentUnderTest(const ClientHome& env) : env_(env) { start(); }

    void start() {
        ProcessOptions options;
        options.argv = {binary("tk-agent").string(),
                        "--socket",
                        env_.socket.string(),
                        "--home",
                        env_.home.string(),
                        "--log-level",
                        "warn"};
        options.stderr_file = env_.dir / ("agent-" + std::to_string(++starts_) + ".log");
        process_ = std::make_unique<ChildProcess>(options);
        if (!wait_for_unix_socket(env_.socket, 15s)) throw std::runtime_error("the agent did not start");
    }
    void kill() { process_->kill(); }
    void stop() { process_->stop(); }
    bool running() { return process_->running(); }

    /// One control round trip, on a connection of its own.
    telemetry_kit::v1::ControlResponse control(telemetry_kit::v1::ControlRequest request) {
        ControlConnection connection(env_.socket);
        return connection.call(std::move(request));
    }

    /// What the agent has queued for `tool`.
    std::vector<telemetry_kit::v1::Event> events(const std::string& tool) {
        telemetry_kit::v1::ControlRequest request;
        request.mutable_events()->set_tool(tool);
        request.mutable_events()->set_limit(100000);
        const auto response = control(request);
        return {response.events().events().begin(), response.events().events().end()};
    }

    void grant(const std::string& tool) {
        telemetry_kit::v1::ControlRequest request;
        request.mutable_consent()->set_action(telemetry_kit::v1::ConsentRequest::ACTION_GRANT);
        request.mutable_consent()->set_tool(tool);
        control(request);
    }

    std::string log() const { return read_file(env_.dir / ("agent-" + std::to_string(starts_) + ".log")); }

private:
    const ClientHome& env_;
    std::unique_ptr<ChildProcess> process_;
    int starts_ = 0;
};

}  // namespace tk::test
