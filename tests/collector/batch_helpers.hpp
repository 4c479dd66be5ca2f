#pragma once
// Building batches and reading acks in the collector tests.

#include <set>
#include <string>

#include "http_client.hpp"
#include "telemetry_kit/v1/collector.pb.h"
#include "tk/common/uuid.hpp"

namespace tk::test {

using telemetry_kit::v1::Batch;
using telemetry_kit::v1::BatchAck;
using telemetry_kit::v1::Event;
namespace http = boost::beast::http;

/// A valid command event of `tool` with a fresh UUIDv7.
inline Event make_event(const std::string& tool, const std::string& name = "build",
                        const std::string& anonymous_id = "a1b2c3d4e5f60718") {
    Event event;
    event.set_id(tk::to_bytes(tk::uuid_v7()));
    event.set_tool(tool);
    event.set_tool_version("1.2.3");
    event.set_kind(telemetry_kit::v1::EVENT_KIND_COMMAND);
    event.set_name(name);
    event.set_timestamp_unix_ms(static_cast<std::int64_t>(tk::uuid_v7_unix_ms(tk::uuid_v7())));
    event.set_anonymous_id(anonymous_id);
    event.set_success(true);
    event.set_duration_us(1234);
    event.set_exit_code(0);
    (*event.mutable_attributes())["cache"].set_string_value("hit");
    (*event.mutable_attributes())["jobs"].set_int_value(8);
    return event;
}

inline Batch make_batch(const std::string& tool, int count, const std::string& anonymous_id = "a1b2c3d4e5f60718") {
    Batch batch;
    for (int i = 0; i < count; ++i) *batch.add_events() = make_event(tool, "build", anonymous_id);
    return batch;
}

inline HttpResponse post_batch(unsigned short port, const std::string& key, const std::string& body,
                               const std::string& content_type = "application/x-protobuf") {
    std::map<std::string, std::string> headers{{"Content-Type", content_type}};
    if (!key.empty()) headers["Authorization"] = "Bearer " + key;
    return http_request(port, http::verb::post, "/v1/batches", body, headers);
}

inline HttpResponse post_batch(unsigned short port, const std::string& key, const Batch& batch) {
    return post_batch(port, key, batch.SerializeAsString());
}

inline BatchAck parse_ack(const HttpResponse& response) {
    BatchAck ack;
    if (!ack.ParseFromString(response.body)) throw std::runtime_error("response is not a BatchAck");
    return ack;
}

/// "ids" of the ack's accepted list, as a set of 16-byte strings.
inline std::set<std::string> accepted_ids(const BatchAck& ack) {
    return {ack.accepted().begin(), ack.accepted().end()};
}

}  // namespace tk::test
