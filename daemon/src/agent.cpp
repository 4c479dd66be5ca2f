// The agent (agent.hpp): start-up (lock, store, registry, forwarder), the listener and its accept
// loop with a connection cap, the idle exit of a socket-activated agent, and the control commands
// (one handler each, registered in kControlCommands).
#include "tk/agent/agent.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <stdexcept>

#include "tk/agent/activation.hpp"
#include "tk/agent/identity.hpp"
#include "tk/agent/version.hpp"
#include "tk/common/clock.hpp"
#include "tk/common/framing.hpp"
#include "tk/common/manifest.hpp"
#include "tk/common/scoped_umask.hpp"
#include "tk/common/unix_socket.hpp"

namespace tk::agent {
namespace v1 = telemetry_kit::v1;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using boost::asio::local::stream_protocol;

namespace {

constexpr std::size_t kDefaultEventsLimit = 1000;
constexpr std::size_t kMaxEventsLimit = 50'000;         // keeps a reply far below kMaxReplyFrameBytes
constexpr std::chrono::milliseconds kAcceptRetry{100};  // after accept failed (out of descriptors)

/// True if something accepts connections on the Unix socket at `path`.
bool socket_is_live(const fs::path& path) { return static_cast<bool>(UniqueFd(unix_socket::connect_stream(path))); }

/// Hundreds of clients at once need more descriptors than the usual soft limit of 1024.
void raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
}

std::optional<Destination> destination_of(const v1::ToolIdentity& identity) {
    if (identity.endpoint().empty() || identity.local_only()) return std::nullopt;
    return Destination{identity.endpoint(), identity.ingest_key()};
}

}  // namespace

Agent::Agent(AgentOptions options) : options_(std::move(options)) {
    // A socket-activated listener is adopted (and checked) first: a bad one fails the start before
    // the state directory, the lock or the database is touched, and none of them can have landed
    // on fd 3 (were it not open) and be taken for the listener.
    if (const int fd = activated_listener(); fd >= 0) {
        acceptor_.assign(stream_protocol(), fd);
        activated_ = true;
    }
    const Paths& paths = options_.paths;
    if (const auto made = ensure_private_dir(paths.state_dir); !made) {
        throw std::runtime_error("state directory: " + made.error());
    }
    raise_fd_limit();

    // One agent per state dir (the queue database), and one per socket.
    const fs::path lock_file = paths.agent_lock();
    lock_fd_.reset(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_fd_)
        throw std::runtime_error(fmt::format("cannot open {}: {}", lock_file.string(), std::strerror(errno)));
    if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        throw std::runtime_error(
            fmt::format("another agent is already running with state directory {}", paths.state_dir.string()));
    }

    const AgentConfig& config = options_.config;
    StoreOptions store_options;
    store_options.max_queue_events = config.max_queue_events;
    store_options.max_queue_bytes = config.max_queue_bytes;
    store_options.retention = config.retention;
    store_options.max_dead_letters = config.max_dead_letters;
    store_options.dead_letter_retention = config.dead_letter_retention;
    store_options.max_commit_events = config.max_commit_events;
    store_options.commit_wait = config.commit_wait;
    store_options.synchronous_full = config.synchronous_full;
    store_ = std::make_unique<EventStore>(paths.database(), store_options);
    registry_ = std::make_unique<ToolRegistry>(load_or_create_install_secret(paths.install_secret()), store_->load());
    intake_ = std::make_unique<Intake>(*registry_, *store_, Scrubber::for_current_user());

    ForwarderOptions forwarder_options = config.forwarder;
    if (config.sent_log) forwarder_options.sent_log = paths.sent_log();
    forwarder_ = std::make_unique<Forwarder>(*store_, forwarder_options);
    store_->set_on_sendable([this] { forwarder_->notify(); });
    open_manifests(paths, config);
    spool_ = std::make_unique<SpoolImporter>(io_, options_.paths, *intake_, *store_);
    control_handler_ = [this](const v1::ControlRequest& request, const std::string& hello_tool,
                              std::function<void(v1::ControlResponse)> reply) {
        control(request, hello_tool, std::move(reply));
    };
}

/// The manifest fetcher, its cached manifests put in force at once, and every Hello with an
/// endpoint telling it where the tool's manifest is (docs/privacy.md, "Manifests").
void Agent::open_manifests(const Paths& paths, const AgentConfig& config) {
    ManifestOptions manifest_options = config.manifest;
    if (manifest_options.ca_file.empty()) manifest_options.ca_file = config.forwarder.ca_file;
    manifest_options.request_timeout = config.forwarder.request_timeout;
    manifests_ = std::make_unique<ManifestFetcher>(
        paths.state_dir / "manifests.db", manifest_options,
        [this](const std::string& tool, std::shared_ptr<const v1::Manifest> manifest) {
            asio::post(io_, [this, tool, manifest = std::move(manifest)]() mutable {
                registry_->set_manifest(registry_->get_or_add(tool), std::move(manifest));
            });
        });
    // Every answer, changed or not: a tool that requires a manifest holds its events until then.
    manifests_->on_answer([this](const std::string& tool, std::shared_ptr<const v1::Manifest> manifest) {
        asio::post(io_, [this, tool, manifest = std::move(manifest)]() mutable {
            intake_->manifest_answered(registry_->get_or_add(tool), std::move(manifest));
        });
    });
    for (auto& cached : manifests_->cached()) {
        auto& tool = registry_->get_or_add(cached.tool);
        registry_->set_manifest(tool, cached.manifest);
        tool.manifest_answered = true;  // the collector's last word, until it says another
    }
    intake_->on_destination = [this](const std::string& tool, const std::string& endpoint) {
        manifests_->want(tool, endpoint);
    };
}

Agent::~Agent() {
    if (manifests_) manifests_->stop();
    if (store_) store_->stop();
    if (forwarder_) forwarder_->stop();
}

void Agent::listen() {
    const fs::path& socket = options_.paths.socket;
    if (activated_) {  // adopted in the constructor
        spdlog::info("using the socket-activated listener (fd {})", acceptor_.native_handle());
        return;
    }
    if (const auto made = ensure_private_dir(socket.parent_path()); !made) {
        throw std::runtime_error("socket directory: " + made.error());
    }
    struct stat st {};
    if (::lstat(socket.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            throw std::runtime_error(fmt::format("{} exists and is not a socket; not touching it", socket.string()));
        }
        if (socket_is_live(socket)) {
            throw std::runtime_error(fmt::format("another agent is already running on {}", socket.string()));
        }
        spdlog::info("removing stale socket {}", socket.string());
        ::unlink(socket.c_str());
    }
    if (socket.native().size() >= sizeof(sockaddr_un::sun_path)) {
        throw std::runtime_error(fmt::format("socket path {} is too long for a Unix socket", socket.string()));
    }
    boost::system::error_code error;
    {
        const ScopedUmask born_private(0177);  // the socket is born 0600
        acceptor_.open(stream_protocol(), error);
        if (!error) acceptor_.bind(stream_protocol::endpoint(socket.string()), error);
    }
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
    if (error) throw std::runtime_error(fmt::format("cannot listen on {}: {}", socket.string(), error.message()));
    ::chmod(socket.c_str(), 0600);
    owns_socket_file_ = true;
}

int Agent::run() {
    // Catch SIGTERM/SIGINT before anyone can connect: a signal during the spool import is held
    // until the loop runs, then handled like any other.
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    listen();  // listening, but nothing is accepted before the spool is imported
    // Idle exit only makes sense when the service manager holds the socket and starts the agent
    // again on the next connection; a directly started agent would be gone for good.
    if (activated_) {
        idle_exit_ = options_.config.idle_exit;
    } else if (options_.config.idle_exit.count() > 0) {
        spdlog::info("idle exit is off: the agent was not socket-activated, so nothing would start it again");
    }
    store_->start();
    forwarder_->start();
    manifests_->start();
    for (const auto& [name, tool] : registry_->tools()) {
        if (const auto destination = destination_of(tool->identity)) manifests_->want(name, destination->endpoint);
    }
    spool_->import_now();

    signals_.async_wait([this](const boost::system::error_code& error, int signal) {
        if (!error) shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
    });
    accept();
    spool_->watch();
    arm_idle_timer();
    spdlog::info("tk-agent {} ready on {} (state in {})", version(),
                 activated_ ? std::string("the socket-activated listener") : options_.paths.socket.string(),
                 options_.paths.state_dir.string());
    if (idle_exit_.count() > 0) spdlog::info("socket-activated: exits after {} s idle", idle_exit_.count());
    notify_ready();
    io_.run();
    stopping_ = true;
    if (const auto held = intake_->held_total(); held > 0) {
        // Memory only, by design: never stored before their manifest checked them.
        spdlog::warn("{} events held for their tool's manifest (its collector never answered) are dropped at exit",
                     held);
    }

    store_->stop();  // commits everything already handed to it
    forwarder_->stop();
    manifests_->stop();
    if (owns_socket_file_) ::unlink(options_.paths.socket.c_str());
    spdlog::info("tk-agent stopped");
    return 0;
}

void Agent::shutdown(const char* why) {
    spdlog::info("{}: shutting down", why);
    stopping_ = true;
    notify_stopping();
    boost::system::error_code ignored;
    idle_timer_.cancel();
    accept_retry_.cancel();
    spool_->stop();            // an import in progress keeps its file for the next start
    acceptor_.close(ignored);  // an activated listener stays open in the service manager
    io_.stop();
}

void Agent::accept() {
    acceptor_.async_accept([this](const boost::system::error_code& error, stream_protocol::socket socket) {
        if (error == asio::error::operation_aborted) {
            // Cancelled by the idle timer (or closed by shutdown). Now no accept is pending, so no
            // connection can slip in while we decide: new ones wait in the kernel's backlog.
            if (idle_check_ && !stopping_) check_idle();
            return;
        }
        if (error) {
            retry_accept(error);
            return;
        }
        const std::uint64_t id = next_session_id_++;
        if (live_sessions_ >= options_.config.max_connections) {
            refuse_over_cap(id);  // `socket` closes as it goes out of scope
        } else if (const auto peer = unix_socket::peer_credentials(socket.native_handle()); !peer) {
            spdlog::warn("connection {}: cannot read the peer's credentials; closing", id);
        } else if (peer->uid != ::geteuid()) {
            spdlog::warn("connection {}: refused a peer of another user (uid {}, pid {})", id, peer->uid, peer->pid);
        } else {
            try {
                // Counted only once the session exists: its destructor is what uncounts it, so
                // a constructor that throws must not leave a count behind (the agent would
                // never be idle again). If start() throws, the destructor uncounts it.
                SessionLimits limits;
                limits.idle_timeout = options_.config.connection_idle_timeout;
                auto session = std::make_shared<Session>(
                    std::move(socket), *intake_, control_handler_, id, [this] { on_session_end(); }, limits);
                ++live_sessions_;
                idle_timer_.cancel();
                session->start();
            } catch (const std::exception& e) {
                // Out of memory or descriptors for this one connection: drop it, keep serving.
                spdlog::error("connection {}: cannot start a session: {}; closing", id, e.what());
            }
        }
        if (idle_check_) {
            // The idle timer fired just as this accept completed (cancel cannot undo a completed
            // accept): the connection is served, and the idle time starts again after it.
            idle_check_ = false;
            arm_idle_timer();
        }
        accept();
    });
}

// Accept fails with EMFILE/ENFILE when the agent (or the system) is out of descriptors, ENOBUFS or
// ENOMEM when the kernel is short of memory. The connection stays in the backlog, so accepting
// again at once fails again at once: a busy loop that floods the log. Wait a little instead, and
// say so at most every 10 s; connections in the backlog are served once descriptors free up.
void Agent::retry_accept(const boost::system::error_code& error) {
    if (accept_failures_.allow(std::chrono::steady_clock::now())) {
        spdlog::warn("accept failed: {} ({} more such failures not logged); retrying every {} ms", error.message(),
                     accept_failures_.held_back(), kAcceptRetry.count());
    }
    if (idle_check_) {
        // The idle timer fired meanwhile and found no accept to cancel: decide now.
        check_idle();
        return;
    }
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([this](const boost::system::error_code& waited) {
        if (waited || stopping_) return;
        if (idle_check_) {
            check_idle();
        } else {
            accept();
        }
    });
}

void Agent::refuse_over_cap(std::uint64_t id) {
    if (refused_over_cap_.allow(std::chrono::steady_clock::now())) {
        spdlog::warn(
            "connection {}: refused: {} connections open, the most allowed (agent.max_connections); "
            "{} more refused since the last such line",
            id, live_sessions_.load(), refused_over_cap_.held_back());
    }
}

// ---- idle exit (socket-activated only) ----
//
// Idle means: no client connection for idle_exit_ and nothing the forwarder could send. The timer
// is armed when the last session ends (and at start), so an idle agent wakes once per idle period
// at most. When it fires, the pending accept is cancelled and the decision is made in its handler:
// a connection the kernel completed meanwhile is still delivered and served; one that is only in
// the backlog stays there, and the service manager, which keeps the listening socket, starts the
// next agent for it.

void Agent::on_session_end() {
    // Any thread: the last reference to a session may be dropped on the store's writer thread.
    if (live_sessions_.fetch_sub(1) == 1 && !stopping_) asio::post(io_, [this] { arm_idle_timer(); });
}

void Agent::arm_idle_timer() {
    if (idle_exit_.count() == 0 || stopping_ || idle_check_ || live_sessions_ > 0) return;
    idle_timer_.expires_after(idle_exit_);
    idle_timer_.async_wait([this](const boost::system::error_code& error) {
        if (error || stopping_ || idle_check_ || live_sessions_ > 0) return;
        idle_check_ = true;
        boost::system::error_code ignored;
        acceptor_.cancel(ignored);  // its handler calls check_idle(), or serves a completed accept
        // From here on no accept is pending: a connection made now waits in the backlog (for
        // this agent if it stays, else for the next one). Tests wait for this line to connect.
        spdlog::debug("idle for {} s: stopped accepting; checking whether there is anything to send",
                      idle_exit_.count());
    });
}

void Agent::check_idle() {
    // A no-op store task completes after everything sessions handed to the store is committed and
    // the forwarder notified of it; only then is the forwarder's answer complete.
    store_->run(
        [](EventStore::Tx&) {},
        [this](bool) {
            forwarder_->has_work([this](bool work) { asio::post(io_, [this, work] { finish_idle_check(work); }); });
        });
}

void Agent::finish_idle_check(bool forwarder_has_work) {
    idle_check_ = false;
    if (stopping_) return;
    if (forwarder_has_work || spool_->busy()) {
        // Staying up to deliver (or to finish a spool import); asked again one idle period from now.
        spdlog::debug("idle for {} s, but there are events to send: staying", idle_exit_.count());
        accept();
        arm_idle_timer();
        return;
    }
    spdlog::info("idle for {} s with nothing to send: exiting; the next connection starts the agent again",
                 idle_exit_.count());
    notify_status("exited after being idle; the next connection starts it again");
    shutdown("idle");
}

// ---- control ----

v1::ConsentResponse Agent::consent_snapshot(const std::string& tool) const {
    v1::ConsentResponse response;
    response.set_global_consent(registry_->global_consent());
    for (const auto& [name, entry] : registry_->tools()) {
        if (!tool.empty() && name != tool) continue;
        auto* item = response.add_tools();
        item->set_tool(name);
        item->set_consent(entry->consent);
        item->set_consent_mode(entry->identity.consent_mode());
    }
    return response;
}

// Adding a command: one line here and its handler (docs/contributing.md).
const Agent::ControlCommand Agent::kControlCommands[] = {
    {v1::ControlRequest::kStatus, &Agent::control_status}, {v1::ControlRequest::kConsent, &Agent::control_consent},
    {v1::ControlRequest::kEvents, &Agent::control_events}, {v1::ControlRequest::kForget, &Agent::control_forget},
    {v1::ControlRequest::kFlush, &Agent::control_flush},   {v1::ControlRequest::kManifest, &Agent::control_manifest},
};

namespace {

/// The one way a control request fails: a response that carries only the error.
void reply_error(const std::function<void(v1::ControlResponse)>& reply, std::string message) {
    v1::ControlResponse response;
    response.set_error(std::move(message));
    reply(std::move(response));
}

}  // namespace

void Agent::control(const v1::ControlRequest& request, const std::string& hello_tool, ControlReply reply) {
    // A tool cannot overrule the person (docs/privacy.md, "Who may change consent").
    const auto* named = request.has_consent() ? registry_->find(request.consent().tool()) : nullptr;
    const std::string refused = control_refusal(request, hello_tool, registry_->global_consent(),
                                                named != nullptr ? named->consent : v1::CONSENT_UNSET);
    if (!refused.empty()) {
        spdlog::info("control request of a tool{} refused: {}", hello_tool.empty() ? "" : " (" + hello_tool + ")",
                     refused);
        return reply_error(reply, refused);
    }
    for (const ControlCommand& command : kControlCommands) {
        if (command.command == request.command_case()) return (this->*command.handle)(request, std::move(reply));
    }
    reply_error(reply, "unknown control command (is tk newer than this agent?)");
}

std::function<void(bool)> Agent::reply_when_committed(ControlReply reply, std::shared_ptr<v1::ControlResponse> response,
                                                      std::function<void(v1::ControlResponse&)> finish) {
    return
        [this, reply = std::move(reply), response = std::move(response), finish = std::move(finish)](bool committed) {
            asio::post(io_, [reply, response, finish, committed] {
                if (!committed) return reply_error(reply, "the store could not commit (see the agent's log)");
                if (finish) finish(*response);
                reply(std::move(*response));
            });
        };
}

void Agent::control_status(const v1::ControlRequest&, ControlReply reply) {
    auto response = std::make_shared<v1::ControlResponse>();
    store_->run(
        [response](EventStore::Tx& tx) {
            tx.expire();
            tx.fill_status(*response->mutable_status());
        },
        reply_when_committed(std::move(reply), response, [this](v1::ControlResponse& r) {
            auto* status = r.mutable_status();
            status->set_agent_version(version());
            status->set_uptime_s(
                std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count());
            status->set_global_consent(registry_->global_consent());
            status->set_forwarder_error(forwarder_->local_error());
            for (auto& tool : *status->mutable_tools()) {
                const auto* known = registry_->find(tool.tool());
                if (known != nullptr && known->manifest) tool.set_manifest_version(known->manifest->version());
                tool.set_manifest_held(intake_->held(tool.tool()));
            }
            spool_->fill_status(*status->mutable_spool());
            for (const auto& sent : forwarder_->status()) {
                v1::DestinationStatus* target = nullptr;
                for (auto& destination : *status->mutable_destinations()) {
                    if (destination.endpoint() == sent.endpoint()) target = &destination;
                }
                if (target == nullptr) target = status->add_destinations();
                const auto queued = target->queued();
                const auto dead = target->dead_lettered();
                *target = sent;
                target->set_queued(queued);
                target->set_dead_lettered(dead);
            }
            fill_pauses(*status);
        }));
}

/// The tools their collector paused (quota_exceeded), from the forwarder, into their ToolStatus.
void Agent::fill_pauses(v1::StatusResponse& status) const {
    const std::int64_t now = tk::wall_clock_ms();
    for (const auto& pause : forwarder_->pauses()) {
        if (pause.until_unix_ms <= now) continue;  // over; the forwarder ends it when it next looks
        for (auto& tool : *status.mutable_tools()) {
            if (tool.tool() != pause.tool) continue;
            tool.set_paused_until_unix_ms(pause.until_unix_ms);
            tool.set_paused_reason(pause.reason);
        }
    }
}

void Agent::control_events(const v1::ControlRequest& request, ControlReply reply) {
    const std::string tool = request.events().tool();
    std::size_t limit = request.events().limit() == 0 ? kDefaultEventsLimit : request.events().limit();
    limit = std::min(limit, kMaxEventsLimit);
    auto response = std::make_shared<v1::ControlResponse>();
    store_->run(
        [response, tool, limit](EventStore::Tx& tx) {
            tx.expire();
            tx.list_events(tool, limit, *response->mutable_events());
        },
        reply_when_committed(std::move(reply), response));
}

void Agent::control_flush(const v1::ControlRequest&, ControlReply reply) {
    store_->run(
        [](EventStore::Tx&) {},
        reply_when_committed(std::move(reply), std::make_shared<v1::ControlResponse>(), [this](v1::ControlResponse& r) {
            forwarder_->notify();
            r.mutable_flush()->set_queue_events(store_->queue_events());
            r.mutable_flush()->set_queue_bytes(store_->queue_bytes());
        }));
}

void Agent::control_consent(const v1::ControlRequest& control, ControlReply reply) {
    const v1::ConsentRequest& request = control.consent();
    const std::string tool = request.tool();
    if (!tool.empty() && !valid_tool_name(tool)) return reply_error(reply, "invalid tool name '" + tool + "'");
    v1::Consent consent = v1::CONSENT_UNSET;
    switch (request.action()) {
        case v1::ConsentRequest::ACTION_GRANT: consent = v1::CONSENT_GRANTED; break;
        case v1::ConsentRequest::ACTION_DENY: consent = v1::CONSENT_DENIED; break;
        case v1::ConsentRequest::ACTION_RESET: consent = v1::CONSENT_UNSET; break;
        default: {
            v1::ControlResponse response;
            *response.mutable_consent() = consent_snapshot(request.all() ? std::string() : tool);
            reply(std::move(response));
            return;
        }
    }
    std::vector<std::string> tools;
    if (!tool.empty()) {
        tools.push_back(tool);
        registry_->set_consent(registry_->get_or_add(tool), consent);
    } else {
        // --all: every known tool and the global switch; neither: the global switch alone.
        if (request.all()) {
            for (const auto& [name, entry] : registry_->tools()) {
                tools.push_back(name);
                registry_->set_consent(*entry, consent);
            }
        }
        registry_->set_global_consent(consent);
    }
    const bool global = tool.empty();
    spdlog::info("consent {} for {}", v1::Consent_Name(consent),
                 global ? (request.all() ? std::string("every tool") : std::string("the global switch")) : tool);
    auto deleted = std::make_shared<std::uint64_t>(0);
    store_->run(
        [tools, consent, global, deleted](EventStore::Tx& tx) {
            if (global) tx.set_global_consent(consent);
            for (const auto& name : tools) *deleted += tx.set_tool_consent(name, consent);
        },
        reply_when_committed(std::move(reply), std::make_shared<v1::ControlResponse>(),
                             [this, tool, deleted](v1::ControlResponse& r) {
                                 if (*deleted > 0)
                                     spdlog::info("deleted {} queued events after consent was denied", *deleted);
                                 *r.mutable_consent() = consent_snapshot(tool);
                             }));
}

void Agent::control_manifest(const v1::ControlRequest& control, ControlReply reply) {
    const std::string& name = control.manifest().tool();
    v1::ControlResponse response;
    auto* result = response.mutable_manifest();
    const auto* tool = registry_->find(name);
    if (tool != nullptr && tool->manifest) {
        result->set_known(true);
        *result->mutable_manifest() = *tool->manifest;
        result->set_description(manifest::describe(*tool->manifest));
        result->set_summary(manifest::summary(*tool->manifest));
    }
    if (const auto state = manifests_->state(name)) {
        result->set_endpoint(state->endpoint);
        result->set_fetched_unix_ms(state->checked_unix_ms);
        result->set_fetch_error(state->error);
    }
    reply(std::move(response));
}

void Agent::control_forget(const v1::ControlRequest& control, ControlReply reply) {
    const v1::ForgetRequest& request = control.forget();
    struct Forget {
        std::string tool;
        std::uint64_t generation;
        std::string old_id;
        std::optional<Destination> destination;
    };
    std::vector<Forget> forgets;
    if (!request.tool().empty()) {
        auto* tool = registry_->find(request.tool());
        if (tool == nullptr) {
            return reply_error(reply, "unknown tool '" + request.tool() + "' (tk status lists the known tools)");
        }
        std::string old_id = registry_->rotate(*tool);
        forgets.push_back({tool->name, tool->generation, std::move(old_id), destination_of(tool->identity)});
    } else {
        for (const auto& [name, tool] : registry_->tools()) {
            std::string old_id = registry_->rotate(*tool);
            forgets.push_back({name, tool->generation, std::move(old_id), destination_of(tool->identity)});
        }
    }
    // Events held for a required manifest are local data of the old id too: never stored under the new one.
    std::uint64_t held = 0;
    for (const auto& forget : forgets) held += intake_->forget_held(forget.tool);
    auto response = std::make_shared<v1::ControlResponse>();
    store_->run(
        [forgets, response, held](EventStore::Tx& tx) {
            auto* result = response->mutable_forget();
            result->set_deleted_events(held);
            for (const auto& forget : forgets) {
                result->set_deleted_events(result->deleted_events() + tx.forget_tool(forget.tool, forget.generation,
                                                                                     forget.old_id,
                                                                                     forget.destination));
                result->add_tools(forget.tool);
            }
        },
        reply_when_committed(std::move(reply), response));
    spdlog::info("forget: rotated the anonymous id of {} tool(s)", forgets.size());
}

}  // namespace tk::agent
