// Collector endpoints: what parses, what does not, and that a bad one says why.
#include <catch2/catch.hpp>

#include "tk/agent/http_client.hpp"

using tk::agent::http::parse_url;

TEST_CASE("endpoint URLs parse into scheme, host, port and base path") {
    auto r = parse_url("http://127.0.0.1:8080");
    REQUIRE(r);
    CHECK_FALSE(r->tls);
    CHECK(r->host == "127.0.0.1");
    CHECK(r->port == "8080");
    CHECK(r->target("/v1/batches") == "/v1/batches");

    r = parse_url("HTTPS://telemetry.example.com/");
    REQUIRE(r);
    CHECK(r->tls);
    CHECK(r->host == "telemetry.example.com");
    CHECK(r->port == "443");
    CHECK(r->target("/v1/batches") == "/v1/batches");

    r = parse_url("http://collector.internal/telemetry/");
    REQUIRE(r);
    CHECK(r->port == "80");
    CHECK(r->target("/v1/batches") == "/telemetry/v1/batches");

    r = parse_url("https://[::1]:8443/x");
    REQUIRE(r);
    CHECK(r->host == "::1");
    CHECK(r->port == "8443");
    CHECK(r->base_path == "/x");
}

TEST_CASE("bad endpoints are refused with a reason") {
    const char* bad[] = {"",
                         "telemetry.example.com",
                         "ftp://example.com",
                         "http://",
                         "http://:8080",
                         "http://host:",
                         "http://host:0",
                         "http://host:65536",
                         "http://host:80a",
                         "http://host/path?q=1",
                         "http://host/#frag",
                         "http://[::1",
                         "http://[::1]x",
                         "http://[zz]:80",
                         "http://ho st/"};
    for (const char* text : bad) {
        INFO(text);
        const auto r = parse_url(text);
        CHECK_FALSE(r);
        CHECK(r.error().find("bad endpoint") == 0);
    }
}

TEST_CASE("an endpoint with user info is refused without echoing it") {
    const auto r = parse_url("https://user:s3cret@example.com");
    CHECK_FALSE(r);
    CHECK(r.error().find("s3cret") == std::string::npos);
}

TEST_CASE("path segments are percent-encoded") {
    CHECK(tk::agent::http::encode_path_segment("ab-12_.~") == "ab-12_.~");
    CHECK(tk::agent::http::encode_path_segment("a/b c%") == "a%2Fb%20c%25");
}
