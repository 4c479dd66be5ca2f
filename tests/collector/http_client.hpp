#pragma once
// A small synchronous HTTP/1.1 client (Boost.Beast) for the collector tests.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <map>
#include <string>

namespace tk::test {

struct HttpResponse {
    unsigned status = 0;  ///< 0: the connection failed or was closed without an answer
    std::string body;
    std::map<std::string, std::string> headers;  ///< lowercase names
    std::string header(const std::string& name) const {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

/// One keep-alive connection to 127.0.0.1:port.
class HttpConnection {
public:
    explicit HttpConnection(unsigned short port) : stream_(ioc_) {
        stream_.expires_after(std::chrono::seconds(10));
        stream_.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    }

    /// Sends one request; `headers` are added as given. Returns status 0 on a transport error.
    HttpResponse request(boost::beast::http::verb method, const std::string& target, const std::string& body = {},
                         const std::map<std::string, std::string>& headers = {}) {
        namespace http = boost::beast::http;
        http::request<http::string_body> request{method, target, 11};
        request.set(http::field::host, "127.0.0.1");
        for (const auto& [name, value] : headers) request.set(name, value);
        request.body() = body;
        request.prepare_payload();
        HttpResponse result;
        boost::beast::error_code ec;
        stream_.expires_after(std::chrono::seconds(20));
        http::write(stream_, request, ec);
        if (ec) return result;
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 << 20);
        http::read(stream_, buffer_, parser, ec);
        if (ec) return result;
        const auto& response = parser.get();
        result.status = response.result_int();
        result.body = response.body();
        for (const auto& field : response) {
            std::string name(field.name_string());
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            result.headers[name] = std::string(field.value());
        }
        return result;
    }

    boost::beast::tcp_stream& stream() { return stream_; }

private:
    boost::asio::io_context ioc_;
    boost::beast::tcp_stream stream_;
    boost::beast::flat_buffer buffer_;
};

/// One request on a fresh connection.
inline HttpResponse http_request(unsigned short port, boost::beast::http::verb method, const std::string& target,
                                 const std::string& body = {}, const std::map<std::string, std::string>& headers = {}) {
    try {
        HttpConnection connection(port);
        return connection.request(method, target, body, headers);
    } catch (const boost::system::system_error&) {
        return {};
    }
}

}  // namespace tk::test
