#pragma once
/// The agent: owns the store, the intake, the forwarder and the listening socket; imports the
/// spool (on start and while serving); answers control requests; shuts down cleanly on SIGTERM/SIGINT.

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "tk/agent/config.hpp"
#include "tk/agent/forwarder.hpp"
#include "tk/agent/intake.hpp"
#include "tk/agent/manifest_fetch.hpp"
#include "tk/agent/log_throttle.hpp"
#include "tk/agent/session.hpp"
#include "tk/agent/spool_import.hpp"
#include "tk/agent/store.hpp"
#include "tk/common/paths.hpp"
#include "tk/common/unique_fd.hpp"

namespace tk::agent {

struct AgentOptions {
    Paths paths;
    AgentConfig config;
};

class Agent {
public:
    /// Takes the state dir's lock, opens the store and the install secret. Throws
    /// std::runtime_error with a message for the person on any start-up failure.
    explicit Agent(AgentOptions options);
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    /// Listens (or adopts a socket-activated listener), imports the spool, then serves until
    /// SIGTERM/SIGINT — or, when socket-activated, until it has been idle for `idle_exit`.
    /// Returns the exit code.
    int run();

private:
    void open_manifests(const Paths& paths, const AgentConfig& config);
    void listen();
    void accept();
    void retry_accept(const boost::system::error_code& error);
    void refuse_over_cap(std::uint64_t id);
    void on_session_end();
    void arm_idle_timer();
    void check_idle();
    void finish_idle_check(bool forwarder_has_work);

    // ---- control: one handler per command (agent.cpp). A new command is one line in
    // kControlCommands plus its handler; docs/contributing.md, "Adding a control command". ----
    using ControlReply = std::function<void(telemetry_kit::v1::ControlResponse)>;
    using ControlMethod = void (Agent::*)(const telemetry_kit::v1::ControlRequest&, ControlReply);
    struct ControlCommand {
        telemetry_kit::v1::ControlRequest::CommandCase command;
        ControlMethod handle;
    };
    static const ControlCommand kControlCommands[];

    /// Checks the caller may ask (control_refusal), then calls the command's handler.
    void control(const telemetry_kit::v1::ControlRequest& request, const std::string& hello_tool, ControlReply reply);
    void control_status(const telemetry_kit::v1::ControlRequest& request, ControlReply reply);
    void fill_pauses(telemetry_kit::v1::StatusResponse& status) const;
    void control_consent(const telemetry_kit::v1::ControlRequest& request, ControlReply reply);
    void control_events(const telemetry_kit::v1::ControlRequest& request, ControlReply reply);
    void control_forget(const telemetry_kit::v1::ControlRequest& request, ControlReply reply);
    void control_flush(const telemetry_kit::v1::ControlRequest& request, ControlReply reply);
    void control_manifest(const telemetry_kit::v1::ControlRequest& request, ControlReply reply);
    /// The store's completion for a command that ran a store task: on the io thread, `finish`
    /// completes `response` and it is sent; if the task did not commit, an error is sent instead.
    std::function<void(bool committed)> reply_when_committed(
        ControlReply reply, std::shared_ptr<telemetry_kit::v1::ControlResponse> response,
        std::function<void(telemetry_kit::v1::ControlResponse&)> finish = nullptr);
    telemetry_kit::v1::ConsentResponse consent_snapshot(const std::string& tool) const;
    void shutdown(const char* why);

    AgentOptions options_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    UniqueFd lock_fd_;  ///< holds the state dir's lock while open
    // Declared before io_: sessions still held by io_'s handlers end (on_session_end) while it is
    // destroyed. live_sessions_ is changed on the io thread at accept and on any thread at a
    // session's end; everything else of the idle exit lives on the io thread.
    std::atomic<std::size_t> live_sessions_{0};
    std::atomic<bool> stopping_{false};
    bool activated_ = false;             ///< the listener came from the service manager
    std::chrono::seconds idle_exit_{0};  ///< 0: never (also whenever not activated)
    bool idle_check_ = false;            ///< the idle timer cancelled the accept to decide
    boost::asio::io_context io_{1};
    boost::asio::local::stream_protocol::acceptor acceptor_{io_};
    boost::asio::signal_set signals_{io_};
    boost::asio::steady_timer idle_timer_{io_};
    boost::asio::steady_timer accept_retry_{io_};  ///< after a failed accept (out of descriptors)
    LogThrottle accept_failures_{std::chrono::seconds(10)};
    LogThrottle refused_over_cap_{std::chrono::seconds(10)};
    bool owns_socket_file_ = false;
    std::unique_ptr<EventStore> store_;
    std::unique_ptr<ToolRegistry> registry_;
    std::unique_ptr<Intake> intake_;
    std::unique_ptr<Forwarder> forwarder_;
    std::unique_ptr<ManifestFetcher> manifests_;
    std::unique_ptr<SpoolImporter> spool_;
    ControlHandler control_handler_;
    std::uint64_t next_session_id_ = 1;
};

}  // namespace tk::agent
