// The forwarder's HTTP/1.1 client over Beast, plain or TLS, every step bounded (http_client.hpp),
// and parse_url() for collector endpoints.
#include "tk/agent/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>

#include "tk/agent/version.hpp"

namespace tk::agent::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxResponseBody = 8u << 20;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool is_ip_address(const std::string& host) {
    beast::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

}  // namespace

UrlResult parse_url(std::string_view text) {
    Url url;
    auto fail = [&](std::string why) {
        // Never echo an endpoint with user info: it may hold a password.
        return tk::Error{text.find('@') == std::string_view::npos ? fmt::format("bad endpoint '{}': {}", text, why)
                                                                  : fmt::format("bad endpoint: {}", why)};
    };
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) return fail("expected http:// or https://");
    const std::string scheme = lower(text.substr(0, scheme_end));
    if (scheme == "https") {
        url.tls = true;
    } else if (scheme != "http") {
        return fail(fmt::format("unsupported scheme '{}'", scheme));
    }
    std::string_view rest = text.substr(scheme_end + 3);
    if (rest.find_first_of("?#") != std::string_view::npos) return fail("a query or fragment is not allowed");
    if (rest.find_first_of(" \t\r\n") != std::string_view::npos) return fail("white space is not allowed");
    const auto path_start = rest.find('/');
    std::string_view authority = rest.substr(0, path_start);
    std::string_view path = path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);
    if (authority.find('@') != std::string_view::npos) return fail("user info is not allowed (use the ingest key)");

    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("unterminated IPv6 address");
        url.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("junk after the IPv6 address");
            port = after.substr(1);
            if (port.empty()) return fail("empty port");
        }
        beast::error_code ec;
        asio::ip::make_address_v6(url.host, ec);
        if (ec) return fail("bad IPv6 address");
    } else {
        const auto colon = authority.find(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) return fail("empty port");
        }
    }
    if (url.host.empty()) return fail("no host");
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return fail(fmt::format("bad port '{}'", port));
        }
        const int number = std::stoi(std::string(port));
        if (number < 1 || number > 65535) return fail(fmt::format("port {} out of range", number));
        url.port = std::to_string(number);
    } else {
        url.port = url.tls ? "443" : "80";
    }
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    url.base_path = std::string(path);
    return url;
}

std::string encode_path_segment(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

Client::Client(asio::io_context& io, asio::ssl::context& tls_context, Url url, std::chrono::milliseconds timeout)
    : io_(io), tls_context_(tls_context), url_(std::move(url)), timeout_(timeout), resolver_(io), resolve_timer_(io) {}

void Client::request(bhttp::verb verb, std::string target, std::string bearer_token, std::string content_type,
                     std::string body, Handler handler, std::string if_none_match) {
    handler_ = std::move(handler);
    request_ = {};
    request_.version(11);
    request_.method(verb);
    request_.target(target);
    const bool default_port = url_.port == (url_.tls ? "443" : "80");
    const std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    request_.set(bhttp::field::host, default_port ? host : host + ":" + url_.port);
    request_.set(bhttp::field::user_agent, fmt::format("tk-agent/{}", version()));
    if (!bearer_token.empty())
        request_.set(bhttp::field::authorization, "Bearer " + bearer_token);  // none: a public route
    if (!content_type.empty()) request_.set(bhttp::field::content_type, content_type);
    if (!if_none_match.empty()) request_.set(bhttp::field::if_none_match, if_none_match);
    request_.keep_alive(true);
    request_.body() = std::move(body);
    request_.prepare_payload();

    if (closed_) {
        Response aborted;
        aborted.aborted = true;
        aborted.error = "stopped";
        asio::post(io_, [self = shared_from_this(), aborted] { self->finish(aborted); });
        return;
    }
    if (connected_) {
        reused_ = true;
        write_request();
    } else {
        start_attempt();
    }
}

void Client::close() {
    closed_ = true;
    connected_ = false;
    resolver_.cancel();
    resolve_timer_.cancel();
    beast::error_code ignored;
    if (plain_) plain_->socket().close(ignored);
    if (secure_) beast::get_lowest_layer(*secure_).socket().close(ignored);
}

beast::tcp_stream& Client::tcp() { return secure_ ? beast::get_lowest_layer(*secure_) : *plain_; }

template <class Operation>
void Client::with_stream(Operation&& operation) {
    if (secure_) {
        operation(*secure_);
    } else {
        operation(*plain_);
    }
}

void Client::reset_stream() {
    connected_ = false;
    buffer_.clear();
    beast::error_code ignored;
    if (plain_) plain_->socket().close(ignored);
    if (secure_) beast::get_lowest_layer(*secure_).socket().close(ignored);
    plain_.reset();
    secure_.reset();
    if (url_.tls) {
        secure_.emplace(io_, tls_context_);
    } else {
        plain_.emplace(io_);
    }
}

void Client::start_attempt() {
    reused_ = false;
    reset_stream();
    // The resolver has no timeout of its own: a timer cancels it.
    resolve_timer_.expires_after(timeout_);
    resolve_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->resolver_.cancel();
    });
    resolver_.async_resolve(url_.host, url_.port,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                                self->on_resolve(ec, std::move(results));
                            });
}

void Client::on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    const bool timed_out = resolve_timer_.expiry() <= std::chrono::steady_clock::now();
    resolve_timer_.cancel();
    if (ec == asio::error::operation_aborted && timed_out && !closed_) ec = beast::error::timeout;
    if (ec) return fail(ec, "resolve");
    tcp().expires_after(timeout_);
    tcp().async_connect(
        results, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) { self->on_connect(ec); });
}

void Client::on_connect(beast::error_code ec) {
    if (ec) return fail(ec, "connect");
    if (!secure_) {
        connected_ = true;
        return write_request();
    }
    if (!is_ip_address(url_.host) && !SSL_set_tlsext_host_name(secure_->native_handle(), url_.host.c_str())) {
        return fail(beast::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()), "SNI");
    }
    secure_->set_verify_mode(asio::ssl::verify_peer);
    secure_->set_verify_callback(asio::ssl::host_name_verification(url_.host));
    tcp().expires_after(timeout_);
    secure_->async_handshake(asio::ssl::stream_base::client,
                             [self = shared_from_this()](beast::error_code ec) { self->on_handshake(ec); });
}

void Client::on_handshake(beast::error_code ec) {
    if (ec) return fail(ec, "TLS handshake");
    connected_ = true;
    write_request();
}

void Client::write_request() {
    tcp().expires_after(timeout_);
    with_stream([this](auto& stream) {
        bhttp::async_write(stream, request_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
    });
}

void Client::on_write(beast::error_code ec) {
    if (ec) return fail(ec, "write");
    parser_.emplace();
    parser_->body_limit(kMaxResponseBody);
    tcp().expires_after(timeout_);
    with_stream([this](auto& stream) {
        bhttp::async_read(stream, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    });
}

void Client::on_read(beast::error_code ec) {
    if (ec) return fail(ec, "read");
    tcp().expires_never();
    auto& message = parser_->get();
    Response response;
    response.status = message.result_int();
    response.body = std::move(message.body());
    if (auto it = message.find(bhttp::field::retry_after); it != message.end()) {
        response.retry_after = std::string(it->value());
    }
    if (auto it = message.find(bhttp::field::etag); it != message.end()) response.etag = std::string(it->value());
    if (!message.keep_alive()) {
        connected_ = false;
        beast::error_code ignored;
        tcp().socket().close(ignored);
    }
    finish(std::move(response));
}

void Client::fail(beast::error_code ec, const char* step) {
    connected_ = false;
    if (closed_) {
        Response aborted;
        aborted.aborted = true;
        aborted.error = "stopped";
        return finish(std::move(aborted));
    }
    // A kept-alive connection the server has meanwhile closed: try once on a fresh one.
    // (Re-sending is safe: the collector stores each event id once.)
    if (reused_ && ec != beast::error::timeout) return start_attempt();
    beast::error_code ignored;
    tcp().socket().close(ignored);
    Response response;
    response.error =
        ec == beast::error::timeout ? fmt::format("{}: timed out", step) : fmt::format("{}: {}", step, ec.message());
    finish(std::move(response));
}

void Client::finish(Response response) {
    auto handler = std::move(handler_);
    handler_ = nullptr;
    if (handler) handler(std::move(response));
}

}  // namespace tk::agent::http
