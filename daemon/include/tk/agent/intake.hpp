#pragma once
/// What happens to an event between the socket (or the spool file) and the store: the tool
/// registry (the person's consent and each tool's anonymous id, in memory on the intake thread),
/// policy, scrubbing and serialization. Everything here runs on the intake (io_context) thread.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telemetry_kit/v1/agent.pb.h"
#include "telemetry_kit/v1/manifest.pb.h"
#include "tk/agent/policy.hpp"
#include "tk/agent/scrubber.hpp"
#include "tk/agent/store.hpp"
#include "tk/common/result.hpp"
#include "tk/common/tool_name.hpp"

namespace tk::agent {

/// Tools the agent knows and the person's choices: the in-memory copy of the store's tables.
/// Every change bumps epoch(), so per-connection caches of policy decisions notice it.
class ToolRegistry {
public:
    struct Tool {
        std::string name;
        telemetry_kit::v1::ToolIdentity identity;  ///< as of its latest Hello
        telemetry_kit::v1::Consent consent = telemetry_kit::v1::CONSENT_UNSET;
        std::uint64_t generation = 0;
        std::string anonymous_id;
        /// The manifest in force for the tool (fetched from its destination), or null: none.
        std::shared_ptr<const telemetry_kit::v1::Manifest> manifest;
        /// The collector answered a fetch of the manifest (200 or 404) since the agent started,
        /// or one is cached: whether there is one is known.
        bool manifest_answered = false;
    };

    ToolRegistry(std::string install_secret, const StoredState& state);

    /// The tool named `name`, added (consent unset) if new. The reference stays valid.
    Tool& get_or_add(const std::string& name);
    Tool* find(const std::string& name);
    const std::map<std::string, std::unique_ptr<Tool>>& tools() const { return tools_; }

    telemetry_kit::v1::Consent global_consent() const { return global_consent_; }
    void set_global_consent(telemetry_kit::v1::Consent consent);
    void set_consent(Tool& tool, telemetry_kit::v1::Consent consent);
    /// Bumps the tool's generation and so its anonymous id. Returns the old id.
    std::string rotate(Tool& tool);
    /// Puts `manifest` (null: none) in force for the tool's next events.
    void set_manifest(Tool& tool, std::shared_ptr<const telemetry_kit::v1::Manifest> manifest);

    std::uint64_t epoch() const { return epoch_; }

private:
    std::string secret_;
    telemetry_kit::v1::Consent global_consent_ = telemetry_kit::v1::CONSENT_UNSET;
    std::map<std::string, std::unique_ptr<Tool>> tools_;
    std::uint64_t epoch_ = 1;
};

/// A connection's (or a spool record's) tool and signals, with the policy decision cached until
/// the registry changes.
struct ToolContext {
    telemetry_kit::v1::Hello hello;
    ToolRegistry::Tool* tool = nullptr;
    std::optional<Destination> destination;  ///< none: local only
    std::uint64_t epoch = 0;
    Decision decision;
    std::string tool_version;                                     ///< the Hello's version, bounded like an event's
    std::shared_ptr<const telemetry_kit::v1::Manifest> manifest;  ///< the tool's, as of `epoch`
};

using tk::valid_tool_name;  // 1-64 bytes of [A-Za-z0-9._-] (tk/common/tool_name.hpp)

/// True if `raw` (a client's serialized Event) is byte for byte what the agent's canonical
/// serialization of the parsed event would be, and carries none of the agent's own fields
/// (anonymous_id, ci; tool only if it equals `tool`, the Hello's): fields in number order, each once, no default
/// values, minimal varints, no unknown fields, map entries sorted by key with no key twice. One pass, no allocation:
/// the hot path uses it to splice the agent's fields in instead of serializing the event again.
bool canonical_client_event(std::string_view raw, std::string_view tool);

/// The canonical form of `event`: deterministic serialization (map entries sorted by key). What
/// the agent stores, `tk events` shows and the forwarder sends are these bytes.
void serialize_canonical(const telemetry_kit::v1::Event& event, std::string& out);

class Intake {
public:
    Intake(ToolRegistry& registry, EventStore& store, Scrubber scrubber);

    /// Validates `hello` and fills `context`; else says why it is refused.
    Result<void> hello(const telemetry_kit::v1::Hello& hello, ToolContext& context);

    /// Applies policy to `event`; if kept, scrubs and bounds it, sets the agent's fields and
    /// appends it to `batch`; if dropped, counts the reason in `batch.dropped`. Returns true if kept.
    /// The stored payload is always the canonical serialization (serialize_canonical) of the
    /// event with the agent's fields set. `raw`, if given, is the serialized `event` as received:
    /// when scrubbing changed nothing and `raw` is canonical_client_event(), the agent's fields
    /// are spliced into `raw` at their places, which gives the same bytes without serializing.
    bool accept(ToolContext& context, telemetry_kit::v1::Event& event, IntakeBatch& batch, std::string_view raw = {});

    /// The hot path, before any parsing: if policy keeps the tool's events and `raw` (a client's
    /// serialized Event) is canonical_client_event() (but perhaps for the order of its
    /// attributes), with valid UTF-8 strings and nothing the scrubber would change, appends it to
    /// `batch` with the agent's fields spliced in — the same bytes accept() stores — and returns
    /// true. Otherwise changes nothing and returns false: parse the event and call accept().
    bool accept_as_sent(ToolContext& context, std::string_view raw, IntakeBatch& batch);

    ToolRegistry& registry() { return registry_; }
    EventStore& store() { return store_; }

    /// The collector answered the tool's manifest fetch with `manifest` (null: it publishes
    /// none): puts it in force, then the events held for it (a tool that requires a manifest,
    /// before the answer) go through accept() again — enforced, or dropped — and to the store.
    void manifest_answered(ToolRegistry::Tool& tool, std::shared_ptr<const telemetry_kit::v1::Manifest> manifest);
    /// How many of the tool's events are held for its manifest (0 if none).
    std::uint64_t held(const std::string& tool) const;
    /// How many events of every tool are held.
    std::uint64_t held_total() const;
    /// Deletes the tool's held events (`tk forget`); returns how many.
    std::uint64_t forget_held(const std::string& tool);

    /// Called by hello() with the tool's name and collector endpoint, when it has one (the
    /// agent keeps the tool's manifest from there). May be empty.
    std::function<void(const std::string& tool, const std::string& endpoint)> on_destination;

private:
    void refresh(ToolContext& context);
    /// Keeps `event` in memory until the tool's manifest is known (bounded: else dropped, counted).
    bool hold(const ToolContext& context, const telemetry_kit::v1::Event& event, IntakeBatch& batch);

    /// Events of one tool waiting for its manifest, each with the context it arrived in.
    struct Held {
        std::vector<std::pair<ToolContext, telemetry_kit::v1::Event>> events;
        std::size_t bytes = 0;
    };

    ToolRegistry& registry_;
    EventStore& store_;
    Scrubber scrubber_;
    std::map<std::string, Held> held_;  ///< by tool; memory only, never stored unchecked
};

/// Adds `count` drops for `reason` to `batch.dropped`.
void count_drop(IntakeBatch& batch, const char* reason, std::uint64_t count = 1);

/// The Event bytes of a ClientFrame payload that is nothing but its `event` field (field 2,
/// length-delimited, the length running to the end), or nullopt for any other frame, which is
/// then parsed as a whole ClientFrame. Pure, so that it can be fuzzed (fuzz/).
std::optional<std::string_view> lone_event(std::string_view payload);

}  // namespace tk::agent
