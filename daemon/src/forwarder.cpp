// Placeholder so the agent links while the real forwarder is written: it sends nothing.
#include "tk/agent/forwarder.hpp"

namespace tk::agent {

struct Forwarder::Impl {
    Outbox& outbox;
    ForwarderOptions options;
};

Forwarder::Forwarder(Outbox& outbox, ForwarderOptions options)
    : impl_(std::make_unique<Impl>(Impl{outbox, std::move(options)})) {}
Forwarder::~Forwarder() { stop(); }
void Forwarder::start() {}
void Forwarder::notify() {}
void Forwarder::stop() {}
std::vector<telemetry_kit::v1::DestinationStatus> Forwarder::status() const { return {}; }

}  // namespace tk::agent
