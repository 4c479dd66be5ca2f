// The real tk-collector over a throwaway PostgreSQL: ingest, dedup, bounds, hostile input, keys,
// erasure, health and metrics, migrations, outages, rate limits and graceful shutdown.
#include <catch2/catch.hpp>
#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "batch_helpers.hpp"
#include "support/collector_fixture.hpp"

using namespace tk::test;

namespace {

std::string count_rows(const CollectorFixture& collector, const std::string& where = "true") {
    return collector.query("SELECT count(*) FROM events WHERE " + where);
}

std::string hex_of(const std::string& bytes) { return tk::uuid_bytes_to_string(bytes); }

}  // namespace

TEST_CASE("a batch posted twice is stored once and the second ack names every event duplicate") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const Batch batch = make_batch("my-cli", 50);

    const auto first = post_batch(collector.port(), key, batch);
    REQUIRE(first.status == 200);
    CHECK(first.header("content-type") == "application/x-protobuf");
    const BatchAck ack1 = parse_ack(first);
    CHECK(ack1.accepted_size() == 50);
    CHECK(ack1.duplicate_size() == 0);
    CHECK(ack1.rejected_size() == 0);
    CHECK(count_rows(collector) == "50");

    const BatchAck ack2 = parse_ack(post_batch(collector.port(), key, batch));
    CHECK(ack2.accepted_size() == 0);
    CHECK(ack2.duplicate_size() == 50);
    CHECK(count_rows(collector) == "50");

    // One event's fields, as stored.
    const Event& event = batch.events(0);
    CHECK(collector.query("SELECT tool, tool_version, kind, name, anonymous_id, success, duration_us, exit_code, ci,"
                          " attributes->>'cache', attributes->>'jobs',"
                          " (extract(epoch from occurred_at) * 1000)::bigint = " +
                          std::to_string(event.timestamp_unix_ms()) + " FROM events WHERE event_id = '" +
                          hex_of(event.id()) + "'") == "my-cli|1.2.3|1|build|a1b2c3d4e5f60718|t|1234|0|f|hit|8|t");

    // The same id twice within one batch: stored once, the second named duplicate.
    Batch twice;
    *twice.add_events() = make_event("my-cli");
    *twice.add_events() = twice.events(0);
    const BatchAck ack3 = parse_ack(post_batch(collector.port(), key, twice));
    CHECK(ack3.accepted_size() == 1);
    CHECK(ack3.duplicate_size() == 1);
    CHECK(count_rows(collector) == "51");
}

TEST_CASE("events over a bound are rejected one by one with a reason and the rest are stored") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    Batch batch;
    auto add = [&](Event event) {
        *batch.add_events() = event;
        return event.id();
    };
    const std::string good = add(make_event("my-cli"));
    Event other_tool = make_event("other-tool");
    const std::string wrong_tool = add(other_tool);
    const std::string long_name = add(make_event("my-cli", std::string(129, 'n')));
    Event many = make_event("my-cli");
    for (int i = 0; i < 65; ++i) (*many.mutable_attributes())["k" + std::to_string(i)].set_bool_value(true);
    const std::string too_many_attributes = add(many);
    Event long_value = make_event("my-cli");
    (*long_value.mutable_attributes())["v"].set_string_value(std::string(1025, 'v'));
    const std::string value_too_long = add(long_value);
    Event short_id = make_event("my-cli");
    short_id.set_id("0123456789");
    add(short_id);
    Event nul = make_event("my-cli");
    nul.set_name(std::string("bu\0ild", 6));
    const std::string nul_byte = add(nul);
    Event nan = make_event("my-cli");
    (*nan.mutable_attributes())["ratio"].set_double_value(std::numeric_limits<double>::quiet_NaN());
    const std::string not_finite = add(nan);
    // Hostile but valid strings are stored verbatim, never interpreted.
    Event sql = make_event("my-cli", "x'); DROP TABLE events; --");
    (*sql.mutable_attributes())["q"].set_string_value("'\\\t\n\r\"\\N{}");
    (*sql.mutable_attributes())["k'\"\\"].set_string_value("ünïcødé ✓");
    const std::string hostile = add(sql);

    const auto response = post_batch(collector.port(), key, batch);
    REQUIRE(response.status == 200);
    const BatchAck ack = parse_ack(response);
    CHECK(accepted_ids(ack) == std::set<std::string>{good, hostile});
    std::map<std::string, std::string> reasons;
    for (const auto& rejected : ack.rejected()) reasons[rejected.id()] = rejected.reason();
    CHECK(reasons.size() == 7);
    CHECK(reasons[wrong_tool] == "tool does not match the ingest key");
    CHECK(reasons[long_name] == "name too long");
    CHECK(reasons[too_many_attributes] == "too many attributes");
    CHECK(reasons[value_too_long] == "attribute string value too long");
    CHECK(reasons["0123456789"] == "id is not a 16-byte UUIDv7");
    CHECK(reasons[nul_byte] == "string contains a NUL byte");
    CHECK(reasons[not_finite] == "attribute number is not finite");

    CHECK(count_rows(collector) == "2");
    CHECK(collector.query("SELECT name FROM events WHERE event_id = '" + hex_of(hostile) + "'") ==
          "x'); DROP TABLE events; --");
    CHECK(collector.query(
              "SELECT attributes->>'q' = E'\\'\\\\\\t\\n\\r\"\\\\N{}' AND attributes->>'k''\"\\' = 'ünïcødé ✓'"
              " FROM events WHERE event_id = '" +
              hex_of(hostile) + "'") == "t");

    const auto metrics = http_request(collector.port(), http::verb::get, "/metrics");
    CHECK(metrics.body.find("tk_collector_events_rejected_total{reason=\"nul_byte\"} 1") != std::string::npos);
    CHECK(metrics.body.find("tk_collector_events_rejected_total{reason=\"wrong_tool\"} 1") != std::string::npos);
}

TEST_CASE("whole-batch refusals: oversize 413 and malformed or too many events or invalid UTF-8 400") {
    CollectorFixture collector(
        {"--max-body-bytes", "100000", "--max-events", "100", "--header-timeout", "1", "--body-timeout", "1"});
    const std::string key = collector.create_key("my-cli");

    // Oversize: Content-Length over the limit, with the whole body sent.
    const auto oversize = post_batch(collector.port(), key, std::string(200000, 'x'));
    CHECK(oversize.status == 413);

    const auto malformed = post_batch(collector.port(), key, std::string("\xff\xff\xff\xff garbage", 13));
    CHECK(malformed.status == 400);
    CHECK(malformed.body.find("malformed") != std::string::npos);

    const auto too_many = post_batch(collector.port(), key, make_batch("my-cli", 101));
    CHECK(too_many.status == 400);
    CHECK(too_many.body.find("too many events") != std::string::npos);

    // Invalid UTF-8 in a proto3 string field fails protobuf's parser: the batch is refused.
    Event event = make_event("my-cli");
    event.set_name("bad\xc3\x28utf8");
    std::string wire;
    {
        Batch batch;
        *batch.add_events() = event;
        // Serialising checks UTF-8 only in debug builds; the bytes go out as they are.
        batch.SerializeToString(&wire);
    }
    const auto bad_utf8 = post_batch(collector.port(), key, wire);
    CHECK(bad_utf8.status == 400);

    // Invalid UTF-8 inside a JSON body.
    const std::string json_bad_utf8 =
        "{\"events\":[{\"id\":\"AZq7yPZ0dx2d4LJ5Fw3e4A==\",\"tool\":\"my-cli\",\"name\":\"b\xff\"}]}";
    const auto json_response = post_batch(collector.port(), key, json_bad_utf8, "application/json");
    INFO(json_response.body);
    CHECK(json_response.status == 400);
    CHECK(count_rows(collector) == "0");

    // Slow clients: headers or a body that never finish are cut off after their timeout.
    const auto cut_off_after = [&](const std::string& partial_request) {
        HttpConnection connection(collector.port());
        boost::asio::write(connection.stream().socket(), boost::asio::buffer(partial_request));
        const auto started = std::chrono::steady_clock::now();
        char byte = 0;
        boost::system::error_code ec;
        connection.stream().socket().read_some(boost::asio::buffer(&byte, 1), ec);  // the server closes
        CHECK(ec == boost::asio::error::eof);
        return std::chrono::steady_clock::now() - started;
    };
    CHECK(cut_off_after("POST /v1/batches HTTP/1.1\r\nHost: x\r\n") < std::chrono::seconds(5));
    CHECK(cut_off_after("POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc") <
          std::chrono::seconds(5));

    // Still serving.
    const auto fine = post_batch(collector.port(), key, make_batch("my-cli", 100));
    REQUIRE(fine.status == 200);
    CHECK(parse_ack(fine).accepted_size() == 100);
    CHECK(count_rows(collector) == "100");
    const auto metrics = http_request(collector.port(), http::verb::get, "/metrics").body;
    CHECK(metrics.find("tk_collector_requests_total{route=\"batches\",status=\"413\"} 1") != std::string::npos);
    CHECK(metrics.find("tk_collector_requests_total{route=\"batches\",status=\"400\"} 4") != std::string::npos);
}

TEST_CASE("missing or unknown or revoked keys get 401 and keys list and revoke work") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    CHECK(key.rfind("tk_", 0) == 0);
    CHECK(key.size() == 46);
    const Batch batch = make_batch("my-cli", 3);

    CHECK(post_batch(collector.port(), "", batch).status == 401);
    CHECK(post_batch(collector.port(), "tk_not-a-real-key", batch).status == 401);
    CHECK(http_request(collector.port(), http::verb::post, "/v1/batches", batch.SerializeAsString(),
                       {{"Authorization", "Basic dXNlcjpwYXNz"}})
              .status == 401);
    CHECK(post_batch(collector.port(), key, batch).status == 200);

    // Only the hash is stored.
    CHECK(collector.query("SELECT count(*) FROM ingest_keys WHERE position('" + key.substr(3) +
                          "' in encode(key_hash, 'escape')) > 0") == "0");
    const auto listed = collector.run_command({"keys", "list"});
    REQUIRE(listed.exit_code == 0);
    CHECK(listed.out.find(key.substr(0, 11)) != std::string::npos);
    CHECK(listed.out.find(key) == std::string::npos);

    const auto revoked = collector.run_command({"keys", "revoke", key.substr(0, 11)});
    CHECK(revoked.exit_code == 0);
    CHECK(post_batch(collector.port(), key, batch).status == 401);
    CHECK(collector.run_command({"keys", "revoke", key.substr(0, 11)}).exit_code == 1);  // already revoked
    CHECK(count_rows(collector) == "3");
}

TEST_CASE("JSON batches get JSON acks") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const Event event = make_event("my-cli");
    std::string json;
    {
        Batch batch;
        *batch.add_events() = event;
        REQUIRE(google::protobuf::util::MessageToJsonString(batch, &json).ok());
    }
    const auto response = post_batch(collector.port(), key, json, "application/json");
    REQUIRE(response.status == 200);
    CHECK(response.header("content-type") == "application/json");
    BatchAck ack;
    REQUIRE(google::protobuf::util::JsonStringToMessage(response.body, &ack).ok());
    REQUIRE(ack.accepted_size() == 1);
    CHECK(ack.accepted(0) == event.id());
    CHECK(count_rows(collector, "name = 'build' AND attributes->>'cache' = 'hit'") == "1");

    const auto malformed = post_batch(collector.port(), key, "{\"events\": [", "application/json");
    CHECK(malformed.status == 400);
}

TEST_CASE("DELETE /v1/subjects/{id} erases that id's events of the key's tool only and is idempotent") {
    CollectorFixture collector;
    const std::string cli_key = collector.create_key("my-cli");
    const std::string other_key = collector.create_key("other-tool");
    REQUIRE(post_batch(collector.port(), cli_key, make_batch("my-cli", 5, "subject-a")).status == 200);
    REQUIRE(post_batch(collector.port(), cli_key, make_batch("my-cli", 4, "subject-b")).status == 200);
    REQUIRE(post_batch(collector.port(), other_key, make_batch("other-tool", 3, "subject-a")).status == 200);

    const auto erase = [&](const std::string& key, const std::string& id) {
        return http_request(collector.port(), http::verb::delete_, "/v1/subjects/" + id, {},
                            {{"Authorization", "Bearer " + key}});
    };
    const auto first = erase(cli_key, "subject-a");
    REQUIRE(first.status == 200);
    CHECK(first.body == "{\"deleted\":5}\n");
    CHECK(count_rows(collector, "anonymous_id = 'subject-a' AND tool = 'my-cli'") == "0");
    CHECK(count_rows(collector, "anonymous_id = 'subject-a' AND tool = 'other-tool'") == "3");
    CHECK(count_rows(collector, "anonymous_id = 'subject-b'") == "4");

    const auto again = erase(cli_key, "subject-a");
    CHECK(again.status == 200);
    CHECK(again.body == "{\"deleted\":0}\n");
    CHECK(erase("tk_wrong", "subject-b").status == 401);
    CHECK(erase(cli_key, "x%00y").status == 400);
    CHECK(count_rows(collector) == "7");
}

TEST_CASE("healthz follows the database and metrics count requests and events and latency") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    const auto health = http_request(collector.port(), http::verb::get, "/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 7)).status == 200);
    CHECK(http_request(collector.port(), http::verb::get, "/nope").status == 404);
    CHECK(http_request(collector.port(), http::verb::get, "/v1/batches").status == 405);

    const auto metrics = http_request(collector.port(), http::verb::get, "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK(metrics.header("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
    const std::string& text = metrics.body;
    CHECK(text.find("tk_collector_requests_total{route=\"batches\",status=\"200\"} 1") != std::string::npos);
    CHECK(text.find("tk_collector_requests_total{route=\"healthz\",status=\"200\"} 1") != std::string::npos);
    CHECK(text.find("tk_collector_requests_total{route=\"other\",status=\"404\"} 1") != std::string::npos);
    CHECK(text.find("tk_collector_events_total{result=\"accepted\"} 7") != std::string::npos);
    CHECK(text.find("tk_collector_batch_duration_seconds_count 1") != std::string::npos);
    CHECK(text.find("tk_collector_db_errors_total 0") != std::string::npos);

    collector.postgres().stop();
    const auto down = http_request(collector.port(), http::verb::get, "/healthz");
    CHECK(down.status == 503);
    collector.postgres().start();
    CHECK(wait_until([&] { return http_request(collector.port(), http::verb::get, "/healthz").status == 200; }));
}

TEST_CASE("a database outage answers 503 with Retry-After and ingest resumes by itself") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");
    // Fill the pool with connections that the restart will break.
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 10)).status == 200);

    collector.postgres().stop();
    const Batch batch = make_batch("my-cli", 10);
    const auto during = post_batch(collector.port(), key, batch);
    CHECK(during.status == 503);
    CHECK(during.header("retry-after") == "2");
    INFO(collector.log());

    collector.postgres().start();
    // The first request after the restart already succeeds: dead pooled connections are replaced.
    const auto after = post_batch(collector.port(), key, batch);
    REQUIRE(after.status == 200);
    CHECK(parse_ack(after).accepted_size() == 10);
    CHECK(count_rows(collector) == "20");
    CHECK(collector.running());
    const auto metrics = http_request(collector.port(), http::verb::get, "/metrics").body;
    CHECK(metrics.find("tk_collector_db_errors_total 0") == std::string::npos);
}

TEST_CASE("a key over its rate limit gets 429 with Retry-After while other keys are unaffected") {
    CollectorFixture collector({"--rate-limit", "0.2", "--rate-burst", "3"});
    const std::string key = collector.create_key("my-cli");
    const std::string other = collector.create_key("my-cli");
    for (int i = 0; i < 3; ++i) CHECK(post_batch(collector.port(), key, make_batch("my-cli", 1)).status == 200);
    const auto limited = post_batch(collector.port(), key, make_batch("my-cli", 1));
    CHECK(limited.status == 429);
    const int retry_after = std::stoi(limited.header("retry-after").empty() ? "0" : limited.header("retry-after"));
    CHECK(retry_after >= 1);
    CHECK(retry_after <= 5);
    CHECK(post_batch(collector.port(), other, make_batch("my-cli", 1)).status == 200);
    CHECK(count_rows(collector) == "4");
}

TEST_CASE("migrations are recorded and a newer schema than the binary knows stops start-up") {
    CollectorFixture collector;
    CHECK(collector.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version") ==
          "1,2,3,4,5,6,7,8,9,10");
    CHECK(collector.run_command({"migrate"}).exit_code == 0);  // idempotent
    CHECK(collector.query("SELECT count(*) FROM schema_version") == "10");

    collector.query("INSERT INTO schema_version (version, name) VALUES (9999, 'from_the_future')");
    const auto migrate = collector.run_command({"migrate"});
    CHECK(migrate.exit_code == 1);
    CHECK(migrate.err.find("newer than this tk-collector knows") != std::string::npos);

    CHECK(collector.stop() == 0);
    CHECK_THROWS(collector.start());
}

TEST_CASE("SIGTERM lets an in-flight request finish and then exits 0") {
    // --max-queued-bytes 1: while one batch waits for the database, the next is turned away.
    CollectorFixture collector({"--max-queued-bytes", "1"});
    const std::string key = collector.create_key("my-cli");
    REQUIRE(post_batch(collector.port(), key, make_batch("my-cli", 1)).status == 200);

    // Hold the key table locked for a moment, so the next batch waits inside the database.
    ProcessOptions locker;
    locker.argv = {(postgres_bin_dir() / "psql").string(),
                   "-X",
                   "-q",
                   "-d",
                   collector.postgres().conninfo(),
                   "-c",
                   "BEGIN; LOCK TABLE ingest_keys IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"};
    locker.stdout_file = "/dev/null";
    ChildProcess lock(locker);
    REQUIRE(wait_until([&] {
        return collector.query(
                   "SELECT count(*) FROM pg_locks WHERE relation = 'ingest_keys'::regclass AND granted"
                   " AND mode = 'AccessExclusiveLock'") == "1";
    }));

    HttpResponse in_flight;
    std::thread client([&] { in_flight = post_batch(collector.port(), key, make_batch("my-cli", 5)); });
    REQUIRE(wait_until([&] {
        return collector.query(
                   "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tk-collector'"
                   " AND wait_event_type = 'Lock'") == "1";
    }));
    const auto overloaded = post_batch(collector.port(), key, make_batch("my-cli", 5));
    CHECK(overloaded.status == 503);
    CHECK(overloaded.header("retry-after") == "1");
    collector.process()->signal(SIGTERM);
    // Not accepting any more.
    CHECK(wait_until([&] { return !wait_for_tcp_port(collector.port(), std::chrono::milliseconds(50)); }));
    client.join();
    CHECK(in_flight.status == 200);
    CHECK(in_flight.header("connection") == "close");
    CHECK(collector.process()->wait(std::chrono::seconds(5)) == 0);
    CHECK(count_rows(collector) == "6");
    CHECK(lock.wait() == 0);
}

TEST_CASE("retention: expired events are rejected and expired partitions dropped while new ones are made ahead") {
    CollectorFixture collector({"--retention-days", "30"});
    const std::string key = collector.create_key("my-cli");
    // One generator per id: a generator never goes back in time.
    const auto id_at = [](std::uint64_t unix_ms) { return tk::to_bytes(tk::UuidV7Generator().next_at(unix_ms)); };
    const auto now_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    Batch batch;
    Event recent = make_event("my-cli");
    recent.set_id(id_at((now_ms - 10ull * 86'400'000)));
    *batch.add_events() = recent;
    Event old = make_event("my-cli");
    old.set_id(id_at((now_ms - 60ull * 86'400'000)));
    *batch.add_events() = old;
    Event future = make_event("my-cli");
    future.set_id(id_at((now_ms + 3ull * 86'400'000)));
    *batch.add_events() = future;
    const BatchAck ack = parse_ack(post_batch(collector.port(), key, batch));
    CHECK(accepted_ids(ack) == std::set<std::string>{recent.id()});
    REQUIRE(ack.rejected_size() == 2);

    // A partition from long ago goes at the next start.
    collector.query("CREATE TABLE events_p202001 PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2020-02-01')");
    collector.stop();
    collector.start();
    CHECK(wait_until(
        [&] { return collector.query("SELECT count(*) FROM pg_class WHERE relname = 'events_p202001'") == "0"; }));
    CHECK(count_rows(collector) == "1");
    // Next month's partition is made ahead of time.
    CHECK(wait_until([&] {
        return collector.query(
                   "SELECT count(*) FROM pg_class WHERE relname ="
                   " to_char(now() AT TIME ZONE 'UTC' + interval '31 days', '\"events_p\"YYYYMM')") == "1";
    }));
}

TEST_CASE(
    "small things: erasure id with invalid UTF-8 is 400, revoke never logs the key, password file, protobuf's log") {
    CollectorFixture collector;
    const std::string key = collector.create_key("my-cli");

    // Percent-encoded bytes that are not UTF-8: PostgreSQL text cannot hold them (a 500 before).
    const auto bad_id = http_request(collector.port(), http::verb::delete_, "/v1/subjects/ab%ff%fecd", {},
                                     {{"Authorization", "Bearer " + key}});
    CHECK(bad_id.status == 400);

    // A failed revoke of a plain key logs its prefix at most.
    const std::string unknown_key = "tk_" + std::string(43, 'Q');
    const auto revoke = collector.run_command({"keys", "revoke", unknown_key});
    CHECK(revoke.exit_code == 1);
    CHECK(revoke.err.find(unknown_key) == std::string::npos);
    CHECK(revoke.err.find("tk_QQQQQQQQ") != std::string::npos);

    // The password from a file (the test cluster trusts every local user, so any password works).
    TempDir dir;
    { std::ofstream(dir / "password") << "not-on-the-command-line\n"; }
    CHECK(collector.run_command({"keys", "list", "--database-password-file", (dir / "password").string()}).exit_code ==
          0);
    CHECK(collector.run_command({"keys", "list", "--database-password-file", (dir / "missing").string()}).exit_code !=
          0);

    // libprotobuf's complaints about bad strings go through the log, a few a minute, not one
    // raw stderr line per body.
    Event event = make_event("my-cli");
    event.set_name("bad\xc3\x28utf8");
    Batch batch;
    *batch.add_events() = event;
    const std::string wire = batch.SerializeAsString();
    for (int i = 0; i < 30; ++i) REQUIRE(post_batch(collector.port(), key, wire).status == 400);
    const std::string log = collector.log();
    INFO(log);
    CHECK(log.find("[libprotobuf") == std::string::npos);
    std::size_t lines = 0;
    for (auto at = log.find("libprotobuf: "); at != std::string::npos; at = log.find("libprotobuf: ", at + 1)) ++lines;
    CHECK(lines >= 1);
    CHECK(lines <= 10);
}

TEST_CASE("metrics on a separate address (--metrics-listen): /metrics is served there only") {
    const unsigned short metrics_port = free_tcp_port();
    CollectorFixture collector({"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
    REQUIRE(wait_for_tcp_port(metrics_port));
    CHECK(http_request(collector.port(), http::verb::get, "/metrics").status == 404);
    const auto metrics = http_request(metrics_port, http::verb::get, "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.body.find("tk_collector_requests_total") != std::string::npos);
    CHECK(http_request(metrics_port, http::verb::get, "/healthz").status == 200);
    CHECK(http_request(metrics_port, http::verb::post, "/v1/batches", "x").status == 404);
    CHECK(http_request(collector.port(), http::verb::get, "/healthz").status == 200);
}
