// tk's blocking connection to the agent (agent_connection.hpp): ClientFrame out, AgentReply in,
// each wait bounded by a deadline.
#include "agent_connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tk/common/framing.hpp"
#include "tk/common/unix_socket.hpp"

namespace tk::cli {

std::optional<AgentConnection> AgentConnection::connect(const std::filesystem::path& socket, std::string& refused) {
    auto fd = unix_socket::connect_trusted(socket, /*nonblocking=*/false);
    refused = !fd && fd.failure().code == 0 ? fd.error() : std::string();
    if (!fd) return std::nullopt;
    return AgentConnection(std::move(*fd));
}

bool AgentConnection::send(const telemetry_kit::v1::ClientFrame& frame) {
    std::string bytes;
    return framing::append_message(bytes, frame) && unix_socket::send_all(fd_.get(), bytes);
}

Result<telemetry_kit::v1::AgentReply> AgentConnection::receive(std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (buffer_.size() >= framing::kHeaderBytes) {
            framing::FrameDecoder decoder(framing::kMaxReplyFrameBytes);
            decoder.feed(buffer_);
            std::string_view payload;
            const auto status = decoder.next(payload);
            if (status == framing::FrameDecoder::Status::too_large) return Error{"the agent's reply is too large"};
            if (status == framing::FrameDecoder::Status::frame) {
                telemetry_kit::v1::AgentReply reply;
                if (!reply.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
                    return Error{"the agent's reply does not parse"};
                }
                buffer_.erase(0, framing::kHeaderBytes + payload.size());
                return reply;
            }
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) return Error{"the agent did not answer in time"};
        pollfd p{fd_.get(), POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) return Error{std::strerror(errno)};
        if (ready <= 0) continue;
        char chunk[65536];
        const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
        if (n <= 0) return Error{"the agent closed the connection"};
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace tk::cli
