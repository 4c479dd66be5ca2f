// batch_verdict(): the forwarder's decision on every kind of answer to a batch, without sockets.
#include <catch2/catch.hpp>

#include "telemetry_kit/v1/collector.pb.h"
#include "tk/agent/forwarder_verdict.hpp"

using tk::agent::BatchAction;
using tk::agent::OutgoingEvent;
namespace http = tk::agent::http;

namespace {

constexpr std::int64_t kNow = 1'796'083'200'000;  // 2026-12-01 00:00:00 UTC

std::vector<OutgoingEvent> batch(int n) {
    std::vector<OutgoingEvent> out;
    for (int i = 0; i < n; ++i) out.push_back({std::string(16, static_cast<char>('a' + i)), "event"});
    return out;
}

http::Response answer(unsigned status, std::string body = "", std::string retry_after = "") {
    http::Response response;
    response.status = status;
    response.body = std::move(body);
    response.retry_after = std::move(retry_after);
    return response;
}

std::string ack_body(const std::vector<OutgoingEvent>& accepted, std::optional<std::int64_t> reset = std::nullopt) {
    telemetry_kit::v1::BatchAck ack;
    for (const auto& e : accepted) ack.add_accepted(e.id);
    if (reset) {
        ack.mutable_quota_exceeded()->set_reset_unix_ms(*reset);
        ack.mutable_quota_exceeded()->set_quota(10);
        ack.mutable_quota_exceeded()->set_used(10);
    }
    return ack.SerializeAsString();
}

}  // namespace

TEST_CASE("verdict: a full BatchAck delivers, a partial one delivers and retries the rest", "[unit]") {
    const auto sent = batch(3);
    auto full = tk::agent::batch_verdict(answer(200, ack_body(sent)), sent, kNow);
    CHECK(full.action == BatchAction::deliver);
    REQUIRE(full.ack);
    CHECK(full.ack->delivered.size() == 3);
    CHECK(full.error.empty());

    auto partial = tk::agent::batch_verdict(answer(200, ack_body({sent[0]})), sent, kNow);
    CHECK(partial.action == BatchAction::deliver);
    CHECK(partial.ack->unanswered == 2);
    CHECK(partial.error == "the ack left 2 of 3 events unanswered");
}

TEST_CASE("verdict: quota_exceeded pauses until the collector's reset time, within bounds", "[unit]") {
    const auto sent = batch(2);
    const std::int64_t reset = 1'798'761'600'000;  // 2027-01-01 00:00:00 UTC
    auto paused = tk::agent::batch_verdict(answer(200, ack_body({}, reset)), sent, kNow);
    CHECK(paused.action == BatchAction::pause);
    CHECK(paused.paused_until_unix_ms == reset);
    REQUIRE(paused.ack);
    CHECK(paused.ack->delivered.empty());
    CHECK(paused.ack->unanswered == 2);  // kept queued, not dead-lettered

    // A reset in the past (the collector's clock is ahead, or behind ours): not at once again.
    auto past = tk::agent::batch_verdict(answer(200, ack_body({}, kNow - 5000)), sent, kNow);
    CHECK(past.action == BatchAction::pause);
    CHECK(past.paused_until_unix_ms == kNow + tk::agent::kMinPause.count());
    // A reset years away: at most kMaxPause.
    auto far = tk::agent::batch_verdict(answer(200, ack_body({}, kNow * 2)), sent, kNow);
    CHECK(far.paused_until_unix_ms == kNow + tk::agent::kMaxPause.count());
}

TEST_CASE("verdict: retryable answers keep the batch and honour Retry-After", "[unit]") {
    const auto sent = batch(1);
    for (unsigned status : {408u, 429u, 500u, 502u, 503u}) {
        auto v = tk::agent::batch_verdict(answer(status, "busy", "7"), sent, kNow);
        CHECK(v.action == BatchAction::retry);
        REQUIRE(v.retry_after);
        CHECK(v.retry_after->count() == 7000);
        CHECK(v.error == "HTTP " + std::to_string(status) + ": busy");
    }
    http::Response network;
    network.error = "connect: Connection refused";
    auto down = tk::agent::batch_verdict(network, sent, kNow);
    CHECK(down.action == BatchAction::retry);
    CHECK(down.error == "connect: Connection refused");
    CHECK_FALSE(down.retry_after);

    CHECK(tk::agent::batch_verdict(answer(200, "<html>portal</html>"), sent, kNow).error ==
          "HTTP 200 without a BatchAck");
    CHECK(tk::agent::batch_verdict(answer(302), sent, kNow).action == BatchAction::retry);
    CHECK(tk::agent::batch_verdict(answer(204), sent, kNow).error == "unexpected HTTP 204");
}

TEST_CASE("verdict: 413 halves a batch of several and other 4xx dead-letter", "[unit]") {
    auto shrink = tk::agent::batch_verdict(answer(413), batch(9), kNow);
    CHECK(shrink.action == BatchAction::shrink);
    CHECK(shrink.batch_events == 4);
    auto lone = tk::agent::batch_verdict(answer(413, "too large"), batch(1), kNow);
    CHECK(lone.action == BatchAction::dead_letter);
    CHECK(lone.error == "HTTP 413: too large");
    for (unsigned status : {400u, 401u, 403u, 404u}) {
        CHECK(tk::agent::batch_verdict(answer(status), batch(2), kNow).action == BatchAction::dead_letter);
    }
}

TEST_CASE("verdict: an aborted request (the forwarder is stopping) records nothing", "[unit]") {
    http::Response aborted;
    aborted.aborted = true;
    CHECK(tk::agent::batch_verdict(aborted, batch(1), kNow).action == BatchAction::ignore);
}
