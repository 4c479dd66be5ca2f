// The manifest's pure parts: reading and checking the author's file (tk::manifest), name
// patterns, and the agent's verdict on one event (enforce_manifest). No I/O.
#include <catch2/catch.hpp>

#include <cmath>

#include "tk/agent/manifest_rules.hpp"
#include "tk/common/manifest.hpp"
#include "tk/common/uuid.hpp"

namespace v1 = telemetry_kit::v1;
using namespace tk::agent;

namespace {

constexpr const char* kManifest = R"json({
  "tool": "demo",
  "required": true,
  "description": "Which commands people run, to know what to keep fast.",
  "events": [
    {"kind": "command", "name": "build", "sample_rate": 0.25,
     "attributes": {"profile": {"type": "string", "values": ["debug", "release"]},
                    "jobs": {"type": "int"}}},
    {"kind": "feature", "name": "cache.*",
     "attributes": {"hit": {"type": "bool"}, "note": {"type": "string", "max_length": 8}}},
    {"name": "ping"}
  ]
})json";

v1::Manifest demo() {
    auto parsed = tk::manifest::parse(kManifest);
    REQUIRE(parsed);
    return *parsed;
}

v1::Event event(v1::EventKind kind, const std::string& name) {
    v1::Event e;
    e.set_id(tk::to_bytes(tk::uuid_v7()));
    e.set_kind(kind);
    e.set_name(name);
    return e;
}

std::string error_of(const std::string& json) {
    auto parsed = tk::manifest::parse(json);
    REQUIRE_FALSE(parsed);
    return parsed.error();
}

}  // namespace

TEST_CASE("a manifest file is read and checked, with errors that name the place") {
    const auto manifest = demo();
    CHECK(manifest.events_size() == 3);
    CHECK(manifest.required());
    CHECK(manifest.events(0).sample_rate() == 0.25);

    CHECK_THAT(error_of(R"({"tool": "demo", "events": [{"name": "a", "kind": "verb"}]})"),
               Catch::Contains("events[0].kind"));
    CHECK_THAT(error_of(R"({"tool": "demo", "events": [{"name": "a", "sample_rate": 0}]})"),
               Catch::Contains("events[0].sample_rate"));
    CHECK_THAT(error_of(R"({"tool": "demo", "events": [{"name": "a", "sample_rate": 1.5}]})"),
               Catch::Contains("events[0].sample_rate"));
    CHECK_THAT(
        error_of(
            R"({"tool": "demo", "events": [{"name": "a"}, {"name": "b", "attributes": {"x": {"type": "text"}}}]})"),
        Catch::Contains("events[1].attributes.x: type"));
    // Free text with no bound is how identifiers leak: a string needs values or max_length.
    CHECK_THAT(error_of(R"({"tool": "demo", "events": [{"name": "a", "attributes": {"x": {"type": "string"}}}]})"),
               Catch::Contains("events[0].attributes.x"));
    CHECK_THAT(
        error_of(
            R"({"tool": "demo", "events": [{"name": "a", "attributes": {"x": {"type": "int", "values": ["1"]}}}]})"),
        Catch::Contains("strings only"));
    CHECK_THAT(error_of(R"({"tool": "de mo"})"), Catch::Contains("tool"));
    // A typo is an error, not a silently ignored field.
    CHECK_THAT(error_of(R"({"tool": "demo", "evnets": []})"), Catch::Contains("evnets"));
    // JSON syntax: the line and column.
    CHECK_THAT(error_of("{\n  \"tool\": \"demo\",\n  \"events\": [ }\n}"), Catch::Contains("line 3"));
}

TEST_CASE("name patterns: '*' stands for any run of characters") {
    using tk::manifest::name_matches;
    CHECK(name_matches("build", "build"));
    CHECK_FALSE(name_matches("build", "builds"));
    CHECK(name_matches("cache.*", "cache.remote"));
    CHECK(name_matches("cache.*", "cache."));
    CHECK_FALSE(name_matches("cache.*", "cache"));
    CHECK(name_matches("*", "anything"));
    CHECK(name_matches("a*b*c", "aXbYbZc"));
    CHECK_FALSE(name_matches("a*b*c", "aXbYbZ"));
    CHECK(name_matches("**x", "x"));
}

TEST_CASE("an undeclared event is dropped, an undeclared or refused attribute stripped") {
    const auto manifest = demo();
    SECTION("no rule for the name, or for its kind") {
        const auto verdict = enforce_manifest(event(v1::EVENT_KIND_COMMAND, "deploy"), manifest);
        CHECK_FALSE(verdict.keep);
        CHECK(std::string(verdict.reason) == manifest_reason::undeclared_event);
        CHECK_FALSE(enforce_manifest(event(v1::EVENT_KIND_COMMAND, "cache.remote"), manifest).keep);
        CHECK(enforce_manifest(event(v1::EVENT_KIND_FEATURE, "cache.remote"), manifest).keep);
        CHECK(enforce_manifest(event(v1::EVENT_KIND_CUSTOM, "ping"), manifest).keep);  // any kind
    }
    SECTION("attributes") {
        auto e = event(v1::EVENT_KIND_FEATURE, "cache.local");
        (*e.mutable_attributes())["hit"].set_bool_value(true);
        (*e.mutable_attributes())["note"].set_string_value("short");
        (*e.mutable_attributes())["user_path"].set_string_value("/home/x");  // undeclared
        auto verdict = enforce_manifest(e, manifest);
        REQUIRE(verdict.keep);
        REQUIRE(verdict.strip.size() == 1);
        CHECK(verdict.strip[0].first == "user_path");
        CHECK(std::string(verdict.strip[0].second) == manifest_reason::undeclared_attribute);
        CHECK(verdict.sample_rate == 1.0);

        (*e.mutable_attributes())["note"].set_string_value("much too long");  // over max_length 8
        (*e.mutable_attributes())["hit"].set_string_value("yes");             // wrong type
        verdict = enforce_manifest(e, manifest);
        REQUIRE(verdict.strip.size() == 3);
    }
    SECTION("a value outside the allowed set") {
        // build is sampled: find an id that the sampling keeps, so that only the values decide.
        auto e = event(v1::EVENT_KIND_COMMAND, "build");
        while (sample_point(e.id()) >= 0.25) e.set_id(tk::to_bytes(tk::uuid_v7()));
        (*e.mutable_attributes())["profile"].set_string_value("release");
        (*e.mutable_attributes())["jobs"].set_int_value(8);
        auto verdict = enforce_manifest(e, manifest);
        REQUIRE(verdict.keep);
        CHECK(verdict.strip.empty());
        CHECK(verdict.sample_rate == 0.25);
        (*e.mutable_attributes())["profile"].set_string_value("customer-acme");
        verdict = enforce_manifest(e, manifest);
        REQUIRE(verdict.strip.size() == 1);
        CHECK(std::string(verdict.strip[0].second) == manifest_reason::attribute_value);
    }
}

TEST_CASE("sampling keeps the declared share of random ids, the same way for the same id") {
    const auto manifest = demo();
    // Binomial(n, p): the kept count is within 5 standard deviations of n*p but for a chance of
    // about 6e-7.
    const int n = 200'000;
    const double p = 0.25;
    int kept = 0;
    for (int i = 0; i < n; ++i) {
        const auto e = event(v1::EVENT_KIND_COMMAND, "build");
        const auto verdict = enforce_manifest(e, manifest);
        if (verdict.keep) ++kept;
        if (i < 100) CHECK(enforce_manifest(e, manifest).keep == verdict.keep);  // deterministic per id
    }
    const double sigma = std::sqrt(n * p * (1 - p));
    CHECK(std::abs(kept - n * p) < 5 * sigma);
}

TEST_CASE("the manifest in plain words") {
    const auto manifest = demo();
    const std::string words = tk::manifest::describe(manifest);
    CHECK_THAT(words, Catch::Contains("the command 'build'"));
    CHECK_THAT(words, Catch::Contains("profile (one of debug, release)"));
    CHECK_THAT(words, Catch::Contains("only 25% of them"));
    CHECK_THAT(words, Catch::Contains("note (text of at most 8 characters)"));
    CHECK_THAT(words, Catch::Contains("required"));
    const std::string summary = tk::manifest::summary(manifest);
    CHECK_THAT(summary, Catch::Contains("build, cache.*, ping"));
    CHECK_THAT(summary, Catch::Contains("tk manifest demo"));
}

TEST_CASE("the manifest gate: a required manifest holds events until the collector answers") {
    using tk::agent::manifest_gate;
    using tk::agent::ManifestGate;
    // has_manifest, required, sends, answered
    CHECK(manifest_gate(true, false, true, true) == ManifestGate::enforce);
    CHECK(manifest_gate(true, true, true, false) == ManifestGate::enforce);  // a cached one is in force at once
    CHECK(manifest_gate(false, false, true, false) == ManifestGate::as_before);
    CHECK(manifest_gate(false, false, true, true) == ManifestGate::as_before);
    CHECK(manifest_gate(false, true, false, false) == ManifestGate::as_before);  // local only: nothing leaves
    CHECK(manifest_gate(false, true, true, false) == ManifestGate::hold);
    CHECK(manifest_gate(false, true, true, true) == ManifestGate::drop_missing);
}

TEST_CASE("the hold is bounded by count and bytes") {
    using tk::agent::hold_has_room;
    using tk::agent::kMaxHeldBytes;
    using tk::agent::kMaxHeldEvents;
    CHECK(hold_has_room(0, 0, 100));
    CHECK(hold_has_room(kMaxHeldEvents - 1, 0, 100));
    CHECK_FALSE(hold_has_room(kMaxHeldEvents, 0, 100));
    CHECK(hold_has_room(1, kMaxHeldBytes - 100, 100));
    CHECK_FALSE(hold_has_room(1, kMaxHeldBytes - 99, 100));
    CHECK_FALSE(hold_has_room(0, 0, kMaxHeldBytes + 1));
}
