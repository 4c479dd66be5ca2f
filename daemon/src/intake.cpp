#include "tk/agent/intake.hpp"

#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

#include "tk/agent/identity.hpp"

namespace tk::agent {
namespace v1 = telemetry_kit::v1;

ToolRegistry::ToolRegistry(std::string install_secret, const StoredState& state)
    : secret_(std::move(install_secret)), global_consent_(state.global_consent) {
    for (const auto& record : state.tools) {
        auto tool = std::make_unique<Tool>();
        tool->name = record.name;
        tool->identity = record.identity;
        tool->consent = record.consent;
        tool->generation = record.generation;
        tool->anonymous_id = anonymous_id(secret_, tool->name, tool->generation);
        tools_.emplace(record.name, std::move(tool));
    }
}

ToolRegistry::Tool& ToolRegistry::get_or_add(const std::string& name) {
    auto& slot = tools_[name];
    if (!slot) {
        slot = std::make_unique<Tool>();
        slot->name = name;
        slot->identity.set_tool(name);
        slot->anonymous_id = anonymous_id(secret_, name, 0);
        ++epoch_;
    }
    return *slot;
}

ToolRegistry::Tool* ToolRegistry::find(const std::string& name) {
    auto it = tools_.find(name);
    return it == tools_.end() ? nullptr : it->second.get();
}

void ToolRegistry::set_global_consent(v1::Consent consent) {
    global_consent_ = consent;
    ++epoch_;
}

void ToolRegistry::set_consent(Tool& tool, v1::Consent consent) {
    tool.consent = consent;
    ++epoch_;
}

std::string ToolRegistry::rotate(Tool& tool) {
    std::string old = tool.anonymous_id;
    ++tool.generation;
    tool.anonymous_id = anonymous_id(secret_, tool.name, tool.generation);
    ++epoch_;
    return old;
}

bool valid_tool_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return false;
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

void count_drop(IntakeBatch& batch, const char* reason, std::uint64_t count) {
    for (auto& [name, n] : batch.dropped) {
        if (name == reason) {
            n += count;
            return;
        }
    }
    batch.dropped.emplace_back(reason, count);
}

Intake::Intake(ToolRegistry& registry, EventStore& store, Scrubber scrubber)
    : registry_(registry), store_(store), scrubber_(std::move(scrubber)) {}

std::string Intake::hello(const v1::Hello& hello, ToolContext& context) {
    if (hello.protocol_version() > 1) {
        return "unsupported protocol_version " + std::to_string(hello.protocol_version()) + " (this agent speaks 1)";
    }
    const auto& identity = hello.tool();
    if (!valid_tool_name(identity.tool())) {
        return "invalid tool name (1-64 characters of A-Z a-z 0-9 . _ -)";
    }
    context.hello = hello;
    auto& tool = registry_.get_or_add(identity.tool());
    if (!google::protobuf::util::MessageDifferencer::Equals(tool.identity, identity)) {
        // The tool's latest declaration (endpoint, consent mode...) is what `tk status` shows.
        tool.identity = identity;
        store_.run([name = tool.name, identity](EventStore::Tx& tx) { tx.save_tool(name, identity); }, nullptr);
    }
    context.tool = &tool;
    if (!identity.endpoint().empty() && !identity.local_only()) {
        context.destination = Destination{identity.endpoint(), identity.ingest_key()};
    } else {
        context.destination.reset();
    }
    context.epoch = 0;
    refresh(context);
    return {};
}

void Intake::refresh(ToolContext& context) {
    if (context.epoch == registry_.epoch()) return;
    context.decision = decide(context.hello.tool(), context.hello.signals(), registry_.global_consent(),
                              context.tool->consent);
    context.epoch = registry_.epoch();
}

namespace {

void append_varint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7F) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

void append_string_field(std::string& out, std::uint32_t field, const std::string& value) {
    append_varint(out, (field << 3) | 2);
    append_varint(out, value.size());
    out += value;
}

}  // namespace

bool Intake::accept(ToolContext& context, v1::Event& event, IntakeBatch& batch, std::string_view raw) {
    refresh(context);
    if (!context.decision.keep) {
        count_drop(batch, context.decision.reason);
        return false;
    }
    if (event.id().size() != 16) {
        count_drop(batch, drop_reason::invalid_event);
        return false;
    }
    const auto& identity = context.hello.tool();
    const bool ci_would_stay = event.ci() && !context.decision.ci;  // false is not on the wire: cannot override
    bool scrubbed_already = false;
    if (!raw.empty() && !ci_would_stay) {
        const auto scrubbed = scrubber_.apply(event);
        scrubbed_already = true;
        if (!scrubbed.changed) {
            PreparedEvent prepared;
            prepared.id = event.id();
            prepared.payload.reserve(raw.size() + 64);
            prepared.payload.append(raw.data(), raw.size());
            append_string_field(prepared.payload, v1::Event::kToolFieldNumber, identity.tool());
            if (event.tool_version().empty() && !identity.version().empty()) {
                append_string_field(prepared.payload, v1::Event::kToolVersionFieldNumber, identity.version());
            }
            append_string_field(prepared.payload, v1::Event::kAnonymousIdFieldNumber, context.tool->anonymous_id);
            if (context.decision.ci) {
                append_varint(prepared.payload, (v1::Event::kCiFieldNumber << 3) | 0);
                append_varint(prepared.payload, 1);
            }
            batch.events.push_back(std::move(prepared));
            return true;
        }
    }
    event.set_tool(identity.tool());
    if (event.tool_version().empty()) event.set_tool_version(identity.version());
    event.set_anonymous_id(context.tool->anonymous_id);
    event.set_ci(context.decision.ci);
    if (!scrubbed_already) scrubber_.apply(event);
    PreparedEvent prepared;
    prepared.id = event.id();
    event.SerializeToString(&prepared.payload);
    batch.events.push_back(std::move(prepared));
    return true;
}

std::optional<std::string_view> lone_event(std::string_view payload) {
    if (payload.size() < 2 || static_cast<unsigned char>(payload[0]) != 0x12) return std::nullopt;
    std::uint64_t length = 0;
    std::size_t position = 1;
    for (int shift = 0; position < payload.size() && shift < 35; shift += 7) {
        const auto byte = static_cast<unsigned char>(payload[position++]);
        length |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
        if ((byte & 0x80) == 0) {
            if (position + length == payload.size()) return payload.substr(position);
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace tk::agent
