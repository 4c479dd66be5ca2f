// tk-collector serving HTTPS with a self-signed certificate, verified by a client holding it
// as its CA file.
#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl/rfc2818_verification.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

using namespace tk::test;
namespace ssl = boost::asio::ssl;

namespace {

/// Writes a self-signed certificate for IP 127.0.0.1 and its key (PEM) to `cert` and `key`.
void make_self_signed(const fs::path& cert, const fs::path& key) {
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    REQUIRE(pkey != nullptr);
    X509* x509 = X509_new();
    X509_set_version(x509, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
    X509_gmtime_adj(X509_getm_notBefore(x509), -60);
    X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
    X509_set_pubkey(x509, pkey);
    X509_NAME* name = X509_get_subject_name(x509);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                               0);
    X509_set_issuer_name(x509, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
    for (const auto& [nid, value] :
         {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
        X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        REQUIRE(extension != nullptr);
        X509_add_ext(x509, extension, -1);
        X509_EXTENSION_free(extension);
    }
    REQUIRE(X509_sign(x509, pkey, EVP_sha256()) > 0);
    FILE* cert_file = std::fopen(cert.c_str(), "w");
    PEM_write_X509(cert_file, x509);
    std::fclose(cert_file);
    FILE* key_file = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(key_file, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(key_file);
    X509_free(x509);
    EVP_PKEY_free(pkey);
}

/// One HTTPS request, verifying the server against `ca_file`. Status 0 if the handshake fails.
HttpResponse https_request(unsigned short port, const fs::path& ca_file, http::verb method, const std::string& target,
                           const std::string& body = {}, const std::map<std::string, std::string>& headers = {}) {
    boost::asio::io_context ioc;
    ssl::context tls(ssl::context::tls_client);
    tls.load_verify_file(ca_file.string());
    tls.set_verify_mode(ssl::verify_peer);
    boost::beast::ssl_stream<boost::beast::tcp_stream> stream(ioc, tls);
    stream.set_verify_callback(ssl::rfc2818_verification("127.0.0.1"));
    boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    boost::beast::error_code ec;
    boost::beast::get_lowest_layer(stream).connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    HttpResponse result;
    if (ec) return result;
    stream.handshake(ssl::stream_base::client, ec);
    if (ec) return result;
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request, ec);
    if (ec) return result;
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response, ec);
    if (ec) return result;
    result.status = response.result_int();
    result.body = response.body();
    return result;
}

}  // namespace

TEST_CASE("HTTPS with a self-signed certificate verified against it as a CA file") {
    TempDir dir;
    make_self_signed(dir / "cert.pem", dir / "key.pem");
    CollectorFixture collector({"--tls-cert", (dir / "cert.pem").string(), "--tls-key", (dir / "key.pem").string()});
    CHECK(collector.base_url().rfind("https://127.0.0.1:", 0) == 0);
    const std::string key = collector.create_key("my-cli");

    CHECK(https_request(collector.port(), dir / "cert.pem", http::verb::get, "/healthz").status == 200);
    const auto response =
        https_request(collector.port(), dir / "cert.pem", http::verb::post, "/v1/batches",
                      make_batch("my-cli", 20).SerializeAsString(),
                      {{"Authorization", "Bearer " + key}, {"Content-Type", "application/x-protobuf"}});
    REQUIRE(response.status == 200);
    BatchAck ack;
    REQUIRE(ack.ParseFromString(response.body));
    CHECK(ack.accepted_size() == 20);
    CHECK(collector.query("SELECT count(*) FROM events") == "20");
    // A streamed answer (chunked, written piece by piece) over TLS: GET /v1/export.
    const auto token = collector.run_command({"tokens", "create", "--tool", "my-cli"}).out;
    const auto exported =
        https_request(collector.port(), dir / "cert.pem", http::verb::get, "/v1/export?tool=my-cli&format=ndjson", {},
                      {{"Authorization", "Bearer " + token.substr(0, token.size() - 1)}});
    CHECK(exported.status == 200);
    CHECK(std::count(exported.body.begin(), exported.body.end(), '\n') == 20);

    // Plain HTTP to the TLS port gets no answer; a client trusting another CA refuses the server.
    CHECK(http_request(collector.port(), http::verb::get, "/healthz").status == 0);
    TempDir other;
    make_self_signed(other / "cert.pem", other / "key.pem");
    CHECK(https_request(collector.port(), other / "cert.pem", http::verb::get, "/healthz").status == 0);
    CHECK(https_request(collector.port(), dir / "cert.pem", http::verb::get, "/healthz").status == 200);
}
