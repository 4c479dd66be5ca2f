// Fuzz target: the collector's batch parsing and validation (parse_batch, validate_event) and the
// JSON it builds for PostgreSQL from what it accepts. Built twice: collector_proto reads the body
// as protobuf, collector_json (TK_FUZZ_JSON) as the JSON form curl users send. Oracles beyond "no
// crash": a parsed batch is within the event limit; an accepted event's attributes are a valid JSON
// object (PostgreSQL's jsonb would refuse the whole COPY otherwise); a JSON body that parses gives
// the same batch as its protobuf form does.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tk/collector/ingest.hpp"

namespace v1 = telemetry_kit::v1;
using namespace tk::collector;

#ifdef TK_FUZZ_JSON
constexpr bool kJson = true;
#else
constexpr bool kJson = false;
#endif

namespace {

constexpr std::size_t kMaxEvents = 64;
// A fixed window (2020-09-13 .. 2033-05-18), so that a crash input replays the same way next year.
constexpr TimeWindow kWindow{1'600'000'000'000, 2'000'000'000'000};

void check_accepted(const v1::Event& event) {
    google::protobuf::Struct object;
    const auto json = detail::attributes_json(event);
    if (!google::protobuf::util::JsonStringToMessage(json, &object).ok()) std::abort();
    if (object.fields_size() != event.attributes_size()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    v1::Batch batch;
    if (parse_batch(body, kJson, kMaxEvents, batch)) return 0;
    if (static_cast<std::size_t>(batch.events_size()) > kMaxEvents) std::abort();
    if (kJson) {
        v1::Batch again;
        if (parse_batch(batch.SerializeAsString(), false, kMaxEvents, again)) std::abort();
        if (!google::protobuf::util::MessageDifferencer::Equals(again, batch)) std::abort();
    }
    const FieldLimits limits;
    for (const auto& event : batch.events()) {
        if (!validate_event(event, "demo", limits, kWindow)) check_accepted(event);
    }
    return 0;
}
