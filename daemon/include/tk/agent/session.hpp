#pragma once
/// One client connection: reads frames, runs Hello/Event through the intake, hands events to the
/// store in one batch per read, answers Flush once the store has committed what came before it,
/// and passes control requests to the agent. Lives as long as its socket (shared_from_this).

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <google/protobuf/arena.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "telemetry_kit/v1/agent.pb.h"
#include "tk/agent/intake.hpp"
#include "tk/common/framing.hpp"

namespace tk::agent {

/// Runs a control request; `hello_tool` is the tool this connection said Hello as (empty if none),
/// which limits what a tool's request may do (control_refusal in policy.hpp).
using ControlHandler = std::function<void(const telemetry_kit::v1::ControlRequest&, const std::string& hello_tool,
                                          std::function<void(telemetry_kit::v1::ControlResponse)> reply)>;

/// Intake backs off (stops reading) while the store has more than this many events to write.
inline constexpr std::size_t kBacklogHighWater = 64 * 1024;

/// A connection's bounds (docs/agent.md, "Connection bounds").
struct SessionLimits {
    /// Closed after this long with no byte from the client, unless a reply of ours is still
    /// pending or the agent itself paused reading. 0 = never.
    std::chrono::milliseconds idle_timeout{60'000};
    /// Replies written but not yet taken by the client: past either bound the client is not
    /// reading its acks, and the connection is closed (agent memory stays bounded).
    std::size_t max_pending_replies = 1024;
    std::size_t max_pending_reply_bytes = 64u << 20;
};

/// Whether replies waiting to be written are over the limits (the first one is always allowed,
/// however large: a single reply is bounded by the frame limit).
bool replies_over_limit(std::size_t pending, std::size_t pending_bytes, const SessionLimits& limits);

class Session : public std::enable_shared_from_this<Session> {
public:
    using Socket = boost::asio::local::stream_protocol::socket;

    /// `on_end`, if set, is called from the destructor — when the connection is closed and nothing
    /// of it is pending any more (the agent's idle exit counts live sessions with it). The last
    /// reference may be dropped on the store's writer thread, so it must be thread-safe.
    Session(Socket socket, Intake& intake, const ControlHandler& control, std::uint64_t id,
            std::function<void()> on_end = nullptr, SessionLimits limits = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    void start();
    /// Closes the socket (agent shutdown).
    void close();

private:
    void read();
    void on_read(const boost::system::error_code& error, std::size_t bytes);
    /// Returns false if the connection must close.
    bool handle(std::string_view payload);
    bool handle_event(std::string_view raw_event);
    void submit_pending(std::function<void(bool)> on_commit);
    void on_flush(std::uint64_t request_id);
    void send(const telemetry_kit::v1::AgentReply& reply);
    void write_next();
    void fail(const std::string& reason);
    void arm_idle_timer(std::chrono::steady_clock::duration after);
    void on_idle_timer();

    Socket socket_;
    Intake& intake_;
    const ControlHandler& control_;
    std::uint64_t id_;
    std::function<void()> on_end_;
    std::unique_ptr<std::array<char, 64 * 1024>> buffer_;
    framing::FrameDecoder decoder_;
    telemetry_kit::v1::ClientFrame frame_;
    google::protobuf::Arena arena_;  // events of one read are parsed here, then freed at once
    std::optional<ToolContext> context_;
    IntakeBatch pending_;
    std::shared_ptr<IntakeCounters> counters_;
    std::uint64_t dropped_ = 0;
    std::deque<std::string> writes_;
    std::size_t write_bytes_ = 0;  ///< bytes in writes_
    bool closing_ = false;
    SessionLimits limits_;
    boost::asio::steady_timer idle_timer_;
    std::chrono::steady_clock::time_point last_read_ = std::chrono::steady_clock::now();
    std::size_t awaiting_replies_ = 0;  ///< flushes and control requests not yet answered
    bool read_paused_ = false;          ///< waiting for the store (back-pressure), not for the client
};

}  // namespace tk::agent
