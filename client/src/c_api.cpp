// The C ABI: thin wrappers over the C++ client that never let an exception out.
#include "telemetry_kit/telemetry_kit.h"

#include <new>

#include "telemetry_kit/client.hpp"
#include "telemetry_kit/consent.hpp"
#include "telemetry_kit/version.hpp"

struct tk_client {
    explicit tk_client(telemetry_kit::Config config) : client(std::move(config)) {}
    telemetry_kit::Client client;
};

namespace {

std::string text(const char* value) { return value != nullptr ? value : ""; }

telemetry_kit::Config to_config(const tk_config& config) {
    telemetry_kit::Config out;
    out.tool = text(config.tool);
    out.version = text(config.version);
    out.endpoint = text(config.endpoint);
    out.ingest_key = text(config.ingest_key);
    out.consent_mode = config.consent_mode == TK_CONSENT_MODE_OPT_OUT ? telemetry_kit::ConsentMode::opt_out
                                                                      : telemetry_kit::ConsentMode::opt_in;
    out.allow_ci = config.allow_ci != 0;
    out.local_only = config.local_only != 0;
    return out;
}

void add_attributes(telemetry_kit::EventBuilder& event, const tk_attribute* attributes, size_t count) {
    if (attributes == nullptr) return;
    for (size_t i = 0; i < count; ++i) {
        const tk_attribute& a = attributes[i];
        if (a.key == nullptr) continue;
        switch (a.type) {
            case TK_ATTR_TYPE_STRING: event.attribute(a.key, a.string_value); break;
            case TK_ATTR_TYPE_INT: event.attribute(a.key, a.int_value); break;
            case TK_ATTR_TYPE_DOUBLE: event.attribute(a.key, a.double_value); break;
            case TK_ATTR_TYPE_BOOL: event.attribute(a.key, a.int_value != 0); break;
            default: break;
        }
    }
}

}  // namespace

extern "C" {

tk_client* tk_client_new(const tk_config* config) {
    if (config == nullptr) return nullptr;
    try {
        return new tk_client(to_config(*config));
    } catch (...) {
        return nullptr;
    }
}

void tk_client_free(tk_client* client) { delete client; }

void tk_track_command(tk_client* client, const char* name, int success, int64_t duration_us,
                      const tk_attribute* attributes, size_t attribute_count) {
    if (client == nullptr || name == nullptr) return;
    try {
        auto event = client->client.track_command(name);
        if (success == TK_SUCCESS || success == TK_FAILURE) event.success(success == TK_SUCCESS);
        if (duration_us >= 0) event.duration_us(duration_us);
        add_attributes(event, attributes, attribute_count);
    } catch (...) {
    }
}

void tk_track_command_exit(tk_client* client, const char* name, int exit_code, int64_t duration_us,
                           const tk_attribute* attributes, size_t attribute_count) {
    if (client == nullptr || name == nullptr) return;
    try {
        auto event = client->client.track_command(name);
        event.exit_code(exit_code).success(exit_code == 0);
        if (duration_us >= 0) event.duration_us(duration_us);
        add_attributes(event, attributes, attribute_count);
    } catch (...) {
    }
}

void tk_track_feature(tk_client* client, const char* name, const tk_attribute* attributes, size_t attribute_count) {
    if (client == nullptr || name == nullptr) return;
    try {
        auto event = client->client.track_feature(name);
        add_attributes(event, attributes, attribute_count);
    } catch (...) {
    }
}

void tk_track(tk_client* client, const char* name, const tk_attribute* attributes, size_t attribute_count) {
    if (client == nullptr || name == nullptr) return;
    try {
        auto event = client->client.track(name);
        add_attributes(event, attributes, attribute_count);
    } catch (...) {
    }
}

int tk_flush(tk_client* client, uint32_t timeout_ms) {
    if (client == nullptr) return 1;
    return client->client.flush(std::chrono::milliseconds(timeout_ms)) ? 1 : 0;
}

void tk_get_stats(const tk_client* client, tk_stats* stats) {
    if (stats == nullptr) return;
    *stats = tk_stats{};
    if (client == nullptr) return;
    const telemetry_kit::Stats s = client->client.stats();
    stats->tracked = s.tracked;
    stats->delivered = s.delivered;
    stats->spooled = s.spooled;
    stats->dropped = s.dropped;
    stats->suppressed = s.suppressed;
    stats->reconnects = s.reconnects;
}

int tk_is_sending(const tk_client* client) {
    return client != nullptr && client->client.mode() == telemetry_kit::Mode::sending ? 1 : 0;
}

int tk_consent_prompt(const tk_config* config) {
    if (config == nullptr) return 0;
    try {
        const auto outcome = telemetry_kit::ask_consent_once(to_config(*config));
        return outcome == telemetry_kit::ConsentOutcome::granted ||
                       outcome == telemetry_kit::ConsentOutcome::already_granted
                   ? 1
                   : 0;
    } catch (...) {
        return 0;
    }
}

const char* tk_version(void) { return telemetry_kit::version(); }

}  // extern "C"
