#pragma once
/// The forwarder's HTTP/1.1 client (Boost.Beast over Asio): one keep-alive connection to one
/// collector, plain TCP for `http://` and TLS (OpenSSL, peer and host name verified, SNI) for
/// `https://`. One request at a time; each step (resolve, connect, handshake, write, read) is
/// bounded by the request timeout. Also the small URL parser for collector endpoints.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tk/common/result.hpp"

namespace tk::agent::http {

/// A parsed collector endpoint, e.g. "https://telemetry.example.com:8443/base".
struct Url {
    bool tls = false;       ///< https
    std::string host;       ///< without IPv6 brackets
    std::string port;       ///< explicit or the scheme's default
    std::string base_path;  ///< "" or "/base" (no trailing slash)
    /// The request target for `path` (which starts with '/') under the base path.
    std::string target(std::string_view path) const { return base_path + std::string(path); }
};

using UrlResult = tk::Result<Url>;

/// Parses an endpoint: scheme http or https (any case), a host (name, IPv4, or [IPv6]), an
/// optional port 1-65535, an optional base path. No user info, query or fragment.
UrlResult parse_url(std::string_view text);

/// What came back: a status and body, or `error` set (network, TLS or timeout).
struct Response {
    std::string error;     ///< empty when the server answered, e.g. "connect: Connection refused"
    bool aborted = false;  ///< the client was closed while the request was in flight
    unsigned status = 0;
    std::string body;
    std::string retry_after;  ///< the Retry-After header, if any
    std::string etag;         ///< the ETag header, if any
};

/// Percent-encodes everything but RFC 3986 unreserved characters (for a path segment).
std::string encode_path_segment(std::string_view text);

/// One collector connection, reused across requests while the server keeps it open.
/// Create with std::make_shared; all calls on the io_context's thread.
class Client : public std::enable_shared_from_this<Client> {
public:
    using Handler = std::function<void(Response)>;

    /// `tls_context` is used for https URLs and must outlive the client.
    Client(boost::asio::io_context& io, boost::asio::ssl::context& tls_context, Url url,
           std::chrono::milliseconds timeout);

    /// Sends one request; `handler` runs exactly once (with `aborted` set after close()).
    /// A request on a kept-alive connection that the server closed meanwhile is retried once on a
    /// fresh connection before reporting an error.
    /// `if_none_match`, if not empty, is sent as If-None-Match (a conditional GET: 304 if unchanged).
    void request(boost::beast::http::verb verb, std::string target, std::string bearer_token, std::string content_type,
                 std::string body, Handler handler, std::string if_none_match = {});

    /// Closes the connection and cancels what is in flight.
    void close();

private:
    using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    void start_attempt();
    void on_resolve(boost::beast::error_code ec, boost::asio::ip::tcp::resolver::results_type results);
    void on_connect(boost::beast::error_code ec);
    void on_handshake(boost::beast::error_code ec);
    void write_request();
    void on_write(boost::beast::error_code ec);
    void on_read(boost::beast::error_code ec);
    void fail(boost::beast::error_code ec, const char* step);
    void finish(Response response);
    template <class Operation>
    void with_stream(Operation&& operation);
    void reset_stream();
    boost::beast::tcp_stream& tcp();

    boost::asio::io_context& io_;
    boost::asio::ssl::context& tls_context_;
    Url url_;
    std::chrono::milliseconds timeout_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer resolve_timer_;
    std::optional<boost::beast::tcp_stream> plain_;
    std::optional<TlsStream> secure_;
    bool connected_ = false;
    bool reused_ = false;  ///< this attempt runs on a kept-alive connection
    bool closed_ = false;
    boost::beast::flat_buffer buffer_;
    boost::beast::http::request<boost::beast::http::string_body> request_;
    std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
    Handler handler_;
};

}  // namespace tk::agent::http
