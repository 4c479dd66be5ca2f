// The Beast side: a Listener accepting on the I/O thread pool and one HttpSession per
// connection (plain TCP or TLS), in the style of Beast's advanced_server examples.
#include "tk/collector/server.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "app.hpp"
#include "tk/collector/shard_folding.hpp"
#include "tk/collector/tenants.hpp"
#include "tk/common/clock.hpp"

namespace tk::collector {

namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using detail::App;
using detail::Request;
using detail::Response;

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kDrainTimeout = std::chrono::seconds(2);

/// What an export's worker and its session share: whether a piece is being written, and whether
/// the stream failed (the client is gone or too slow). The worker waits here, never on the socket.
class StreamState {
public:
    /// Marks a write as started; false if the stream already failed.
    bool start_write() {
        std::lock_guard lock(mutex_);
        if (failed_) return false;
        writing_ = true;
        return true;
    }
    void finish_write(bool ok) {
        {
            std::lock_guard lock(mutex_);
            writing_ = false;
            if (!ok) failed_ = true;
        }
        changed_.notify_all();
    }
    /// Waits until no write is in flight; false if the stream failed, `deadline` passed, or the
    /// I/O threads stopped (checked every 100 ms: a write that can no longer complete).
    bool wait_idle(std::chrono::steady_clock::time_point deadline, const std::atomic<bool>& io_stopped) {
        std::unique_lock lock(mutex_);
        while (writing_ && !failed_) {
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline || io_stopped) {
                failed_ = true;
                break;
            }
            changed_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(100)));
        }
        return !failed_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool writing_ = false;
    bool failed_ = false;
};

/// One connection, from accept to close. Reads a request (header and body under separate
/// timeouts), hands it to the routes, writes the answer, and reads the next one (keep-alive).
/// The client's address is read only for the rate limiters (in memory, never logged or stored).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
public:
    template <class... StreamArgs>
    explicit HttpSession(App& app, detail::Listen listen, StreamArgs&&... stream_args)
        : app_(app), listen_(listen), stream_(std::forward<StreamArgs>(stream_args)...) {
        ++app_.connections;
    }
    ~HttpSession() {
        release_body();
        --app_.connections;
    }
    HttpSession(const HttpSession&) = delete;
    HttpSession& operator=(const HttpSession&) = delete;

    void start() {
        net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
            if constexpr (kTls) {
                self->tcp().expires_after(self->app_.config.header_timeout);
                self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
                    if (ec) return;  // not speaking TLS, or gone: nothing to answer
                    self->read_header();
                });
            } else {
                self->read_header();
            }
        });
    }

private:
    static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

    beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

    void read_header() {
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(app_.config.max_body_bytes);
        tcp().expires_after(app_.config.header_timeout);
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
    }

    void on_header(beast::error_code ec) {
        if (ec == http::error::body_limit) return refuse(http::status::payload_too_large, "body too large\n");
        if (ec == http::error::header_limit)
            return refuse(http::status::request_header_fields_too_large, "headers too large\n");
        if (ec) return close();  // end of stream, idle timeout, garbage: nothing to answer
        if (!reserve_body()) return refuse(http::status::service_unavailable, "overloaded, retry later\n");
        // One deadline for the whole body, not per read: a body trickling in a byte at a time
        // is cut off like a silent one.
        tcp().expires_after(app_.config.body_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
    }

    void on_body(beast::error_code ec) {
        if (ec == http::error::body_limit) return refuse(http::status::payload_too_large, "body too large\n");
        if (ec) return close();
        Request request = parser_->release();
        keep_alive_ = request.keep_alive();
        ++app_.in_flight;
        in_flight_ = true;
        tcp().expires_never();  // the request's own deadline follows
        // Whichever comes first answers: the routes, or the request deadline (a hung database
        // must not keep the client waiting; the late answer is dropped).
        auto answered = std::make_shared<std::atomic<bool>>(false);
        start_request_deadline(answered, request.version());
        auto self = this->shared_from_this();
        detail::route_request(
            app_, listen_, std::move(request), client_address(),
            [self, answered](Response response) {
                if (answered->exchange(true)) return;
                net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
                    self->request_timer_.cancel();
                    self->write(std::move(response), /*then_drain=*/false);
                });
            },
            [self, answered] { return std::make_shared<SessionStream>(self, answered); });
    }

    /// A streamed answer (detail::BodyStream): the worker's calls become writes on this session's
    /// strand, each under --export-write-timeout, one at a time.
    class SessionStream : public detail::BodyStream {
    public:
        SessionStream(std::shared_ptr<HttpSession> session, std::shared_ptr<std::atomic<bool>> answered)
            : session_(std::move(session)), answered_(std::move(answered)) {}
        ~SessionStream() override {
            if (begun_ && !ended_) end(false);
        }

        bool begin(http::response_header<> head) override {
            if (begun_ || answered_->exchange(true)) return false;
            begun_ = true;
            if (!state_->start_write()) return false;
            post([head = std::move(head)](HttpSession& session, std::shared_ptr<StreamState> state) mutable {
                session.request_timer_.cancel();
                session.write_stream_head(std::move(head), std::move(state));
            });
            return true;
        }

        bool write(std::string piece) override {
            if (!wait_idle() || !state_->start_write()) return false;
            post([piece = std::move(piece)](HttpSession& session, std::shared_ptr<StreamState> state) mutable {
                session.write_stream_piece(std::move(piece), std::move(state));
            });
            return true;
        }

        void end(bool complete) override {
            if (!begun_ || ended_) return;
            ended_ = true;
            if (!complete || !wait_idle() || !state_->start_write()) {
                post([](HttpSession& session, std::shared_ptr<StreamState>) { session.end_stream(false); });
                return;
            }
            post([](HttpSession& session, std::shared_ptr<StreamState> state) {
                session.write_stream_end(std::move(state));
            });
            (void)wait_idle();
        }

    private:
        bool wait_idle() {
            return state_->wait_idle(
                std::chrono::steady_clock::now() + session_->app_.config.export_write_timeout + std::chrono::seconds(1),
                session_->app_.io_stopped);
        }
        template <class Action>
        void post(Action action) {
            net::post(session_->stream_.get_executor(),
                      [session = session_, state = state_, action = std::move(action)]() mutable {
                          action(*session, std::move(state));
                      });
        }

        std::shared_ptr<HttpSession> session_;
        std::shared_ptr<std::atomic<bool>> answered_;
        std::shared_ptr<StreamState> state_ = std::make_shared<StreamState>();
        bool begun_ = false;
        bool ended_ = false;
    };

    void write_stream_head(http::response_header<> head, std::shared_ptr<StreamState> state) {
        stream_head_.emplace(std::move(head));
        stream_head_->chunked(true);
        stream_head_->keep_alive(keep_alive_ && !app_.stopping);
        stream_serializer_.emplace(*stream_head_);
        tcp().expires_after(app_.config.export_write_timeout);
        http::async_write_header(stream_, *stream_serializer_,
                                 [self = this->shared_from_this(), state](beast::error_code ec, std::size_t) {
                                     state->finish_write(!ec);
                                     if (ec) self->end_stream(false);
                                 });
    }

    void write_stream_piece(std::string piece, std::shared_ptr<StreamState> state) {
        stream_piece_ = std::move(piece);
        tcp().expires_after(app_.config.export_write_timeout);
        net::async_write(stream_, http::make_chunk(net::const_buffer(stream_piece_.data(), stream_piece_.size())),
                         [self = this->shared_from_this(), state](beast::error_code ec, std::size_t) {
                             state->finish_write(!ec);
                             if (ec) self->end_stream(false);
                         });
    }

    void write_stream_end(std::shared_ptr<StreamState> state) {
        tcp().expires_after(app_.config.export_write_timeout);
        net::async_write(stream_, http::make_chunk_last(),
                         [self = this->shared_from_this(), state](beast::error_code ec, std::size_t) {
                             state->finish_write(!ec);
                             self->end_stream(!ec);
                         });
    }

    /// After the last chunk (ok: keep the connection if it may be kept) or a failure / a cut
    /// (close it at once, so the client sees the body end without its last chunk). Runs once.
    void end_stream(bool ok) {
        if (stream_ended_) return;
        stream_ended_ = true;
        const bool keep = ok && stream_head_ && stream_head_->keep_alive();
        stream_serializer_.reset();
        stream_head_.reset();
        std::string().swap(stream_piece_);
        finish_request();
        if (keep) {
            stream_ended_ = false;
            return read_header();
        }
        beast::error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
        tcp().close();
    }

    /// The peer's address as bytes, for the rate limiters only (never logged or stored); ""
    /// if the socket has no peer any more.
    std::string client_address() {
        beast::error_code ec;
        const auto endpoint = tcp().socket().remote_endpoint(ec);
        if (ec) return {};
        const auto address = endpoint.address();
        if (address.is_v4()) {
            const auto bytes = address.to_v4().to_bytes();
            return std::string(bytes.begin(), bytes.end());
        }
        const auto bytes = address.to_v6().to_bytes();
        return std::string(bytes.begin(), bytes.end());
    }

    void start_request_deadline(std::shared_ptr<std::atomic<bool>> answered, unsigned version) {
        request_timer_.expires_after(app_.config.request_timeout);
        request_timer_.async_wait([self = this->shared_from_this(), answered, version](beast::error_code ec) {
            if (ec || answered->exchange(true)) return;
            self->app_.metrics.count_request("timeout", 503);
            auto response =
                detail::text_response(version, http::status::service_unavailable, "database unavailable or slow\n");
            response.set(http::field::retry_after, std::to_string(self->app_.config.unavailable_retry_after));
            self->keep_alive_ = false;
            self->write(std::move(response), /*then_drain=*/false);
        });
    }

    /// Answers a request that will not be read to its end, then drains what the client is still
    /// sending so that it sees the answer rather than a reset connection.
    void refuse(http::status status, const char* reason) {
        keep_alive_ = false;
        const auto target = parser_->get().target();  // empty if the headers did not parse
        app_.metrics.count_request(detail::route_label({target.data(), target.size()}), static_cast<unsigned>(status));
        auto response = detail::text_response(11, status, reason);
        if (status == http::status::service_unavailable) response.set(http::field::retry_after, "1");
        write(std::move(response), /*then_drain=*/true);
    }

    void write(Response response, bool then_drain) {
        response_ = std::move(response);
        response_.keep_alive(keep_alive_ && !app_.stopping);
        response_.prepare_payload();
        tcp().expires_after(kWriteTimeout);
        http::async_write(stream_, response_,
                          [self = this->shared_from_this(), then_drain](beast::error_code ec, std::size_t) {
                              self->on_write(ec, then_drain);
                          });
    }

    /// Reserves the body's bytes (its Content-Length, or the largest body when chunked) in
    /// App::buffered_bytes until the answer is written; false if that would pass the bound.
    bool reserve_body() {
        const auto length = parser_->content_length();
        const std::size_t bytes =
            length ? static_cast<std::size_t>(std::min<std::uint64_t>(*length, app_.config.max_body_bytes))
                   : (parser_->chunked() ? app_.config.max_body_bytes : 0);
        if (bytes == 0) return true;
        const std::size_t before = app_.buffered_bytes.fetch_add(bytes);
        if (before + bytes > app_.config.max_buffered_bytes) {
            app_.buffered_bytes -= bytes;
            return false;
        }
        body_bytes_ = bytes;
        return true;
    }

    void release_body() {
        app_.buffered_bytes -= body_bytes_;
        body_bytes_ = 0;
    }

    /// The request is fully answered: its body's reservation and its in-flight count go.
    void finish_request() {
        release_body();
        if (in_flight_) {
            in_flight_ = false;
            --app_.in_flight;
        }
    }

    void on_write(beast::error_code ec, bool then_drain) {
        finish_request();
        if (ec) return;
        if (then_drain) return drain();
        if (!response_.keep_alive()) return close();
        response_ = {};
        read_header();
    }

    void drain() {
        beast::error_code ignored;
        tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
        drain_buffer_.resize(64 * 1024);
        tcp().expires_after(kDrainTimeout);
        read_and_discard();
    }

    void read_and_discard() {
        tcp().async_read_some(net::buffer(drain_buffer_),
                              [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                                  self->drained_ += n;
                                  if (!ec && self->drained_ < 4 * self->app_.config.max_body_bytes)
                                      self->read_and_discard();
                              });
    }

    void close() {
        if constexpr (kTls) {
            tcp().expires_after(std::chrono::seconds(2));
            stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
                beast::error_code ignored;
                self->tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
            });
        } else {
            beast::error_code ignored;
            tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
        }
    }

    App& app_;
    detail::Listen listen_;
    Stream stream_;
    net::steady_timer request_timer_{stream_.get_executor()};
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    Response response_;
    bool keep_alive_ = true;
    bool in_flight_ = false;
    std::size_t body_bytes_ = 0;  // reserved in App::buffered_bytes
    std::string drain_buffer_;
    std::size_t drained_ = 0;
    // A streamed answer (GET /v1/export): its head, the serializer writing it, the piece in flight.
    std::optional<http::response<http::empty_body>> stream_head_;
    std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
    std::string stream_piece_;
    bool stream_ended_ = false;
};

/// Accepts connections and starts a session for each, each on its own strand.
class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(net::io_context& ioc, App& app, ssl::context* tls, const tcp::endpoint& endpoint, detail::Listen listen)
        : ioc_(ioc), app_(app), tls_(tls), listen_(listen), acceptor_(net::make_strand(ioc)) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }

    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void start() { accept(); }
    void stop() {
        net::post(acceptor_.get_executor(), [self = shared_from_this()] {
            beast::error_code ignored;
            self->acceptor_.close(ignored);
            self->backoff_timer_.cancel();
        });
    }

private:
    void accept() {
        acceptor_.async_accept(net::make_strand(ioc_),
                               [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                                   if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
                                   if (ec) return self->back_off(ec);
                                   self->backoff_ = {};
                                   self->start_session(std::move(socket));
                                   self->accept();
                               });
    }

    void start_session(tcp::socket socket) {
        if (app_.connections >= app_.config.max_connections) return turn_away(std::move(socket));
        if (tls_) {
            std::make_shared<HttpSession<beast::ssl_stream<beast::tcp_stream>>>(app_, listen_, std::move(socket), *tls_)
                ->start();
        } else {
            std::make_shared<HttpSession<beast::tcp_stream>>(app_, listen_, std::move(socket))->start();
        }
    }

    /// Over --max-connections: a fixed 503 (plain HTTP; over TLS a handshake would cost more than
    /// the refusal is worth, so the connection is just closed), then close.
    void turn_away(tcp::socket socket) {
        app_.metrics.count_request("other", 503);
        if (tls_) return;
        static constexpr std::string_view kAnswer =
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\n\r\ntoo many connections, retry\n";
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        stream->expires_after(std::chrono::seconds(2));
        net::async_write(*stream, net::buffer(kAnswer.data(), kAnswer.size()),
                         [stream](beast::error_code, std::size_t) {
                             beast::error_code ignored;
                             stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
                         });
    }

    /// accept() failed (EMFILE when out of file descriptors, ENFILE, ENOBUFS, ...): the pending
    /// connection stays in the backlog, so accepting again at once would spin and flood the log.
    /// Wait 10 ms, doubling to 1 s while it keeps failing; log once per 10 s with a count.
    void back_off(beast::error_code ec) {
        backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
        ++accept_failures_;
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_accept_log_) {
            spdlog::warn("accept failed: {} ({} times since the last report); retrying in up to 1 s", ec.message(),
                         accept_failures_);
            accept_failures_ = 0;
            next_accept_log_ = now + std::chrono::seconds(10);
        }
        backoff_timer_.expires_after(backoff_);
        backoff_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
            if (wait_ec || !self->acceptor_.is_open()) return;
            self->accept();
        });
    }

    net::io_context& ioc_;
    App& app_;
    ssl::context* tls_;
    detail::Listen listen_;
    tcp::acceptor acceptor_;
    net::steady_timer backoff_timer_{acceptor_.get_executor()};
    std::chrono::milliseconds backoff_{0};
    std::uint64_t accept_failures_ = 0;
    std::chrono::steady_clock::time_point next_accept_log_{};
};

}  // namespace

struct Server::Impl {
    Impl(ServerConfig config, ConnectionPool& pool, ConnectionPool& read_pool)
        : app(std::move(config), pool, read_pool) {}

    /// Hourly (and at start): drop the partitions past retention, and make this month's and
    /// next month's ahead of time so no batch waits for that DDL at a month's turn.
    void schedule_housekeeping(net::steady_timer& timer, std::chrono::seconds delay) {
        timer.expires_after(delay);
        timer.async_wait([this, &timer](beast::error_code ec) {
            if (ec || app.stopping) return;
            net::post(app.db_workers, [this] {
                try {
                    const auto dropped = with_connection(app.pool, [this](Connection& conn) {
                        const auto now_ms = tk::now_unix_ms();
                        constexpr std::int64_t kDayMs = 86'400'000;
                        // +15 and +31 days: one of them always falls in next month.
                        app.partitions.ensure(conn, {now_ms, now_ms + 15 * kDayMs, now_ms + 31 * kDayMs},
                                              app.config.retention_days);
                        auto names = app.partitions.drop_expired(conn, app.config.retention_days);
                        tenant_housekeeping(conn);
                        fold_shards(conn, now_ms / kDayMs);
                        return names;
                    });
                    for (const auto& name : dropped) spdlog::info("retention: dropped partition {}", name);
                } catch (const std::exception& error) {
                    spdlog::warn("housekeeping: {}", error.what());
                }
            });
            schedule_housekeeping(timer, std::chrono::hours(1));
        });
    }

    /// Per-tool retention (tenants.hpp), and every tool's usage into /metrics (ingest keeps it
    /// current for the tools that send; this covers the others, e.g. after a restart).
    void tenant_housekeeping(Connection& conn) {
        const std::int64_t now_ms = tk::wall_clock_ms();
        const auto removed = expire_per_tool(conn, now_ms);
        if (removed.events > 0 || removed.rollup_rows > 0) {
            spdlog::info("retention: deleted {} events and {} rollup rows past their tools' retention", removed.events,
                         removed.rollup_rows);
        }
        for (const auto& row : list_tools(conn, now_ms)) {
            app.metrics.set_tool_usage(row.settings.tool, row.used_this_month, row.settings.monthly_quota);
        }
    }

    /// Folds the rollup shards of the periods that ended 1-8 days ago (shard_folding.cpp): a week
    /// of catch-up after a collector was down; older periods stay as they are, answers equal.
    static void fold_shards(Connection& conn, std::int64_t today) {
        std::int64_t folded = 0;
        try {
            for (const auto& tool : rollup_tools(conn)) folded += fold_rollup_shards(conn, tool, today - 8, today - 1);
        } catch (const DatabaseError& error) {
            spdlog::warn("rollups: folding shards stopped, next try in an hour: {}", error.what());
        }
        if (folded > 0) spdlog::info("rollups: folded {} shard rows of periods that are over", folded);
    }

    App app;
};

Server::Server(ServerConfig config, ConnectionPool& pool, ConnectionPool* read_pool)
    : impl_(std::make_unique<Impl>(std::move(config), pool, read_pool ? *read_pool : pool)) {}
Server::~Server() = default;

namespace {

/// libprotobuf's own log lines (e.g. one per string field with invalid UTF-8 in a parsed body)
/// go through spdlog, at most kProtobufLogBurst lines a minute; the rest are counted and the
/// count is logged with the next line let through. A hostile body cannot flood the log.
void protobuf_log(google::protobuf::LogLevel level, const char* /*filename*/, int /*line*/,
                  const std::string& message) {
    static constexpr int kProtobufLogBurst = 10;
    static std::mutex mutex;
    static std::chrono::steady_clock::time_point window_start;
    static int in_window = 0;
    static std::uint64_t suppressed = 0;
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start >= std::chrono::minutes(1)) {
        window_start = now;
        in_window = 0;
    }
    if (++in_window > kProtobufLogBurst) {
        ++suppressed;
        return;
    }
    const auto spd_level = level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::warn : spdlog::level::debug;
    const std::string text = message.substr(0, 300);
    if (suppressed > 0) {
        spdlog::log(spd_level, "libprotobuf: {} ({} earlier lines not logged)", text, suppressed);
        suppressed = 0;
    } else {
        spdlog::log(spd_level, "libprotobuf: {}", text);
    }
}

}  // namespace

void Server::run() {
    google::protobuf::SetLogHandler(&protobuf_log);
    App& app = impl_->app;
    const unsigned threads =
        app.config.io_threads ? app.config.io_threads : std::max(1u, std::thread::hardware_concurrency());
    std::optional<ssl::context> tls;  // outlives the io_context, whose handlers hold TLS sessions
    if (!app.config.tls_cert_file.empty() || !app.config.tls_key_file.empty()) {
        if (app.config.tls_cert_file.empty() || app.config.tls_key_file.empty()) {
            throw std::runtime_error("TLS needs both --tls-cert and --tls-key");
        }
        tls.emplace(ssl::context::tls_server);
        tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        beast::error_code ec;
        tls->use_certificate_chain_file(app.config.tls_cert_file, ec);
        if (ec)
            throw std::runtime_error("cannot load TLS certificate " + app.config.tls_cert_file + ": " + ec.message());
        tls->use_private_key_file(app.config.tls_key_file, ssl::context::pem, ec);
        if (ec) throw std::runtime_error("cannot load TLS key " + app.config.tls_key_file + ": " + ec.message());
    }

    net::io_context ioc(static_cast<int>(threads));
    beast::error_code ec;
    const auto address = net::ip::make_address(app.config.host, ec);
    if (ec) throw std::runtime_error("bad listen address " + app.config.host);
    std::shared_ptr<Listener> listener;
    std::shared_ptr<Listener> metrics_listener;  // --metrics-listen: plain HTTP, /metrics and /healthz only
    try {
        listener = std::make_shared<Listener>(ioc, app, tls ? &*tls : nullptr, tcp::endpoint(address, app.config.port),
                                              detail::Listen::main);
        if (!app.config.metrics_host.empty()) {
            const auto metrics_address = net::ip::make_address(app.config.metrics_host, ec);
            if (ec) throw std::runtime_error("bad metrics listen address " + app.config.metrics_host);
            metrics_listener = std::make_shared<Listener>(
                ioc, app, nullptr, tcp::endpoint(metrics_address, app.config.metrics_port), detail::Listen::metrics);
        }
    } catch (const boost::system::system_error& error) {
        throw std::runtime_error(
            fmt::format("cannot listen on {}:{}: {}", app.config.host, app.config.port, error.code().message()));
    }
    listener->start();
    if (metrics_listener) {
        metrics_listener->start();
        const auto metrics_bound = metrics_listener->local_endpoint();
        spdlog::info("metrics on {}:{}", metrics_bound.address().to_string(), metrics_bound.port());
    }
    const auto bound = listener->local_endpoint();
    spdlog::info("listening on {}:{} ({}, {} I/O threads, {} database connections)", bound.address().to_string(),
                 bound.port(), tls ? "https" : "http", threads, app.config.db_workers);

    net::steady_timer housekeeping_timer(ioc);
    impl_->schedule_housekeeping(housekeeping_timer, std::chrono::seconds(0));

    // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded), then stop.
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    net::steady_timer shutdown_timer(ioc);
    std::chrono::steady_clock::time_point shutdown_deadline;
    std::function<void()> wait_for_in_flight = [&] {
        if (app.in_flight == 0 || std::chrono::steady_clock::now() >= shutdown_deadline) {
            if (app.in_flight != 0)
                spdlog::warn("shutdown: {} requests still in flight, closing anyway", app.in_flight.load());
            ioc.stop();
            return;
        }
        shutdown_timer.expires_after(std::chrono::milliseconds(10));
        shutdown_timer.async_wait([&](beast::error_code) { wait_for_in_flight(); });
    };
    signals.async_wait([&](beast::error_code error, int signal) {
        if (error) return;
        spdlog::info("signal {}: shutting down", signal);
        app.stopping = true;
        listener->stop();
        if (metrics_listener) metrics_listener->stop();
        housekeeping_timer.cancel();
        shutdown_deadline = std::chrono::steady_clock::now() + app.config.shutdown_timeout;
        wait_for_in_flight();
    });

    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& thread : pool) thread.join();
    app.io_stopped = true;  // exports still waiting on a write give up now
    app.db_workers.join();
    app.export_workers.join();
    app.pool.close();
    app.read_pool.close();
    spdlog::info("stopped");
}

}  // namespace tk::collector
