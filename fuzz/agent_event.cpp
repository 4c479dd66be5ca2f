// Fuzz target: what the agent does with one ClientFrame payload of a tool that may send — parse
// (the lone-event hot path or a whole ClientFrame), validate, scrub, bound and serialize
// (tk::agent::Intake::accept), without a socket. Oracles beyond "no crash":
//   - the stored payload parses, is canonical (serialize_canonical of itself) and within bounds;
//   - the hot path (splicing the agent's fields into the client's bytes) and the slow path
//     (re-serializing the parsed event) store the same bytes;
//   - Intake::accept_as_sent (stored without parsing) stores exactly what parse + accept() stores,
//     or nothing: bytes it stores that accept() would have scrubbed are personal data leaving —
//     also for a tool with a manifest in force (the as-sent path enforces it on the raw fields).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "tk/agent/intake.hpp"
#include "tk/agent/scrubber.hpp"
#include "tk/agent/store.hpp"

namespace v1 = telemetry_kit::v1;
using namespace tk::agent;

namespace {

struct Harness {
    std::filesystem::path dir;
    std::unique_ptr<EventStore> store;  // Intake needs one; accept() never writes to it
    std::unique_ptr<ToolRegistry> registry;
    std::unique_ptr<Intake> intake;
    ToolContext context;
    ToolContext manifested;  ///< tool "mdemo", with a manifest in force

    Harness() {
        char pattern[] = "/tmp/tk-fuzz-XXXXXX";
        if (!mkdtemp(pattern)) std::abort();
        dir = pattern;
        store = std::make_unique<EventStore>(dir / "agent.db", StoreOptions{});
        registry = std::make_unique<ToolRegistry>(std::string(32, 's'), StoredState{});
        intake = std::make_unique<Intake>(*registry, *store, Scrubber("/home/alice", "alice"));
        auto& tool = registry->get_or_add("demo");
        registry->set_consent(tool, v1::CONSENT_GRANTED);
        context.hello.mutable_tool()->set_tool("demo");
        context.hello.mutable_tool()->set_version("1.0.0");
        context.tool = &tool;
        context.tool_version = "1.0.0";

        auto& mtool = registry->get_or_add("mdemo");
        registry->set_consent(mtool, v1::CONSENT_GRANTED);
        registry->set_manifest(mtool, demo_manifest());
        manifested.hello.mutable_tool()->set_tool("mdemo");
        manifested.hello.mutable_tool()->set_version("1.0.0");
        manifested.tool = &mtool;
        manifested.tool_version = "1.0.0";
    }

    /// Rules that keep, sample, strip and drop: a sampled command family, then anything with
    /// attributes of every type (strings from a set and bounded).
    static std::shared_ptr<const v1::Manifest> demo_manifest() {
        auto manifest = std::make_shared<v1::Manifest>();
        manifest->set_tool("mdemo");
        manifest->set_version(3);
        auto* sampled = manifest->add_events();
        sampled->set_kind("command");
        sampled->set_name("s*");
        sampled->set_sample_rate(0.5);
        (*sampled->mutable_attributes())["a"].set_type("int");
        auto* any = manifest->add_events();
        any->set_name("*");
        auto& attributes = *any->mutable_attributes();
        attributes["a"].set_type("string");
        attributes["a"].add_values("x");
        attributes["a"].add_values("y");
        attributes["b"].set_type("int");
        attributes["c"].set_type("string");
        attributes["c"].set_max_length(8);
        attributes["d"].set_type("double");
        attributes["e"].set_type("bool");
        return manifest;
    }
    ~Harness() {
        store.reset();
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
};

void check_stored(const std::string& payload, const std::string& tool) {
    v1::Event stored;
    if (!stored.ParseFromString(payload)) std::abort();
    std::string again;
    serialize_canonical(stored, again);
    if (again != payload) std::abort();
    if (stored.id().size() != 16 || stored.tool() != tool || stored.anonymous_id().size() != 32) std::abort();
    if (stored.name().size() > kMaxEventNameBytes) std::abort();
    if (static_cast<std::size_t>(stored.attributes_size()) > kMaxAttributes) std::abort();
    for (const auto& [key, value] : stored.attributes()) {
        if (key.size() > kMaxAttributeKeyBytes || value.string_value().size() > kMaxStringValueBytes) std::abort();
    }
}

/// The fast path against parse + accept(), on bytes that are (or would be taken for) one Event.
void check_as_sent(Harness& harness, ToolContext& context, std::string_view raw) {
    IntakeBatch fast;
    const bool took = harness.intake->accept_as_sent(context, raw, fast);
    v1::Event event;
    if (!event.ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
        if (took) __builtin_trap();  // stored what protobuf would refuse
        return;
    }
    if (!took) {
        // Declined: nothing stored, no drop counted (accept() does that, after parsing).
        if (!fast.events.empty() || !fast.dropped.empty()) __builtin_trap();
        return;
    }
    IntakeBatch slow;
    if (!harness.intake->accept(context, event, slow, {})) __builtin_trap();
    if (fast.events.size() != 1 || slow.events.size() != 1) __builtin_trap();
    if (fast.events[0].id != slow.events[0].id || fast.events[0].payload != slow.events[0].payload) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Harness harness;
    const std::string_view payload(reinterpret_cast<const char*>(data), size);

    // The agent tries the fast path on a lone event's bytes; the whole input as an Event reaches
    // it more directly (no frame around it to keep valid).
    check_as_sent(harness, harness.context, lone_event(payload).value_or(payload));
    check_as_sent(harness, harness.manifested, lone_event(payload).value_or(payload));

    v1::Event event;
    std::string_view raw;
    if (const auto lone = lone_event(payload)) {
        if (!event.ParseFromArray(lone->data(), static_cast<int>(lone->size()))) return 0;
        raw = *lone;
    } else {
        v1::ClientFrame frame;
        if (!frame.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return 0;
        if (!frame.has_event()) return 0;
        event = frame.event();
    }
    // Most inputs are not canonical, and the fast path declines them at once; their canonical form
    // is one it may take, so the differential sees every shape the parser lets through.
    std::string canonical;
    serialize_canonical(event, canonical);
    check_as_sent(harness, harness.context, canonical);
    // The same event as the manifest tool's (its tool field, if any, renamed to match the Hello).
    v1::Event renamed = event;
    if (!renamed.tool().empty()) renamed.set_tool("mdemo");
    std::string manifested;
    serialize_canonical(renamed, manifested);
    check_as_sent(harness, harness.manifested, manifested);

    v1::Event copy = event;
    IntakeBatch fast;
    IntakeBatch slow;
    const bool kept = harness.intake->accept(harness.context, event, fast, raw);
    const bool kept_slow = harness.intake->accept(harness.context, copy, slow, {});
    if (kept != kept_slow) std::abort();
    if (!kept) return 0;
    if (fast.events.size() != 1 || slow.events.size() != 1) std::abort();
    if (fast.events[0].payload != slow.events[0].payload) std::abort();
    check_stored(fast.events[0].payload, "demo");
    return 0;
}
