// One client connection (session.hpp): frames in, events to the store in one batch per read,
// FlushAcks once committed, control requests to the agent; bounded replies and an idle timeout.
#include "tk/agent/session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

namespace tk::agent {
namespace v1 = telemetry_kit::v1;
namespace asio = boost::asio;

bool replies_over_limit(std::size_t pending, std::size_t pending_bytes, const SessionLimits& limits) {
    return pending > limits.max_pending_replies || (pending > 1 && pending_bytes > limits.max_pending_reply_bytes);
}

Session::Session(Socket socket, Intake& intake, const ControlHandler& control, std::uint64_t id,
                 std::function<void()> on_end, SessionLimits limits)
    : socket_(std::move(socket)),
      intake_(intake),
      control_(control),
      id_(id),
      on_end_(std::move(on_end)),
      buffer_(std::make_unique<std::array<char, 64 * 1024>>()),
      counters_(std::make_shared<IntakeCounters>()),
      limits_(limits),
      idle_timer_(socket_.get_executor()) {}

Session::~Session() {
    close();  // before on_end_: whoever counts live connections sees this one gone
    if (on_end_) on_end_();
}

void Session::start() {
    if (limits_.idle_timeout.count() > 0) arm_idle_timer(limits_.idle_timeout);
    read();
}

void Session::close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    idle_timer_.cancel();
}

// The timer is not re-armed on every read (hundreds of thousands a second); it fires at the
// earliest possible deadline and checks when the client was last heard from.
void Session::arm_idle_timer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    // A strong reference: the session (and so the timer) is never destroyed on another thread
    // while this wait is pending; every way a session ends cancels the timer on the io thread.
    idle_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
        if (!error) self->on_idle_timer();
    });
}

void Session::on_idle_timer() {
    if (!socket_.is_open()) return;
    const auto now = std::chrono::steady_clock::now();
    const auto deadline = last_read_ + limits_.idle_timeout;
    if (awaiting_replies_ > 0 || read_paused_) {
        arm_idle_timer(limits_.idle_timeout);  // the agent owes the client, not the other way round
    } else if (now < deadline) {
        arm_idle_timer(deadline - now);
    } else {
        spdlog::debug("connection {}: no frame for {} s; closing (agent.connection_idle_timeout_s)", id_,
                      std::chrono::duration_cast<std::chrono::seconds>(limits_.idle_timeout).count());
        submit_pending(nullptr);
        close();
    }
}

void Session::read() {
    socket_.async_read_some(asio::buffer(*buffer_),
                            [self = shared_from_this()](const boost::system::error_code& error, std::size_t bytes) {
                                self->on_read(error, bytes);
                            });
}

void Session::on_read(const boost::system::error_code& error, std::size_t bytes) {
    if (error) {
        idle_timer_.cancel();  // the connection is over: nothing more to time out
        if (error != asio::error::eof && error != asio::error::operation_aborted &&
            error != asio::error::connection_reset) {
            spdlog::debug("connection {}: read failed: {}", id_, error.message());
        }
        if (decoder_.buffered() > 0) {
            spdlog::warn("connection {}: closed with a half frame ({} bytes) pending; it is ignored", id_,
                         decoder_.buffered());
        }
        submit_pending(nullptr);
        return;
    }
    if (closing_) return;
    last_read_ = std::chrono::steady_clock::now();
    decoder_.feed(buffer_->data(), bytes);
    std::string_view payload;
    for (;;) {
        const auto status = decoder_.next(payload);
        if (status == framing::FrameDecoder::Status::need_more) break;
        if (status == framing::FrameDecoder::Status::too_large) {
            fail("frame of " + std::to_string(decoder_.rejected_length()) + " bytes exceeds the limit of " +
                 std::to_string(decoder_.max_frame_bytes()));
            return;
        }
        if (!handle(payload)) return;
    }
    arena_.Reset();
    if (intake_.store().backlog_events() > kBacklogHighWater && !pending_.events.empty()) {
        // The writer is behind: resume reading once this batch is committed (bounded memory).
        read_paused_ = true;
        submit_pending([self = shared_from_this()](bool) {
            asio::post(self->socket_.get_executor(), [self] {
                self->read_paused_ = false;
                self->last_read_ = std::chrono::steady_clock::now();
                self->read();
            });
        });
        return;
    }
    submit_pending(nullptr);
    read();
}

bool Session::handle(std::string_view payload) {
    // Hot path: a frame that is just ClientFrame.event is parsed as an Event straight from its
    // bytes, which the intake can then store without re-serializing.
    if (const auto raw_event = lone_event(payload)) return handle_event(*raw_event);
    if (!frame_.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        fail("malformed frame (not a ClientFrame)");
        return false;
    }
    switch (frame_.body_case()) {
        case v1::ClientFrame::kHello: {
            if (context_) submit_pending(nullptr);  // a batch holds one tool's events
            ToolContext context;
            if (const auto accepted = intake_.hello(frame_.hello(), context); !accepted) {
                fail("hello refused: " + accepted.error());
                return false;
            }
            context_ = std::move(context);
            spdlog::debug("connection {}: hello from {} {}", id_, context_->hello.tool().tool(),
                          context_->hello.tool().version());
            return true;
        }
        case v1::ClientFrame::kEvent: {
            if (!context_) {
                fail("event before hello");
                return false;
            }
            if (pending_.events.empty() && pending_.dropped.empty()) {
                pending_.tool = context_->hello.tool().tool();
                pending_.destination = context_->destination;
            }
            if (!intake_.accept(*context_, *frame_.mutable_event(), pending_)) ++dropped_;
            return true;
        }
        case v1::ClientFrame::kFlush: {
            const std::uint64_t request_id = frame_.flush().request_id();
            auto self = shared_from_this();
            ++awaiting_replies_;
            // FIFO through the store: this completes after every earlier batch of this connection.
            submit_pending([self, request_id](bool committed) {
                asio::post(self->socket_.get_executor(), [self, request_id, committed] {
                    --self->awaiting_replies_;
                    if (committed) {
                        self->on_flush(request_id);
                    } else {
                        self->fail("the store could not commit (see the agent's log)");
                    }
                });
            });
            return true;
        }
        case v1::ClientFrame::kControl: {
            const std::uint64_t request_id = frame_.control().request_id();
            ++awaiting_replies_;
            const std::string hello_tool = context_ ? context_->hello.tool().tool() : std::string();
            control_(frame_.control(), hello_tool,
                     [self = shared_from_this(), request_id](v1::ControlResponse response) {
                         response.set_request_id(request_id);
                         --self->awaiting_replies_;
                         v1::AgentReply reply;
                         *reply.mutable_control() = std::move(response);
                         self->send(reply);
                     });
            return true;
        }
        default: fail("empty frame (no body)"); return false;
    }
}

bool Session::handle_event(std::string_view raw_event) {
    if (!context_) {
        fail("event before hello");
        return false;
    }
    if (pending_.events.empty() && pending_.dropped.empty()) {
        pending_.tool = context_->hello.tool().tool();
        pending_.destination = context_->destination;
    }
    // Most events are stored as sent, never parsed (parsing was half of this thread's work).
    if (intake_.accept_as_sent(*context_, raw_event, pending_)) return true;
    auto* event = google::protobuf::Arena::CreateMessage<v1::Event>(&arena_);
    if (!event->ParseFromArray(raw_event.data(), static_cast<int>(raw_event.size()))) {
        fail("malformed frame (event does not parse)");
        return false;
    }
    // No raw bytes: accept_as_sent() found them not storable as sent, so accept() re-serializes.
    if (!intake_.accept(*context_, *event, pending_)) ++dropped_;
    return true;
}

void Session::submit_pending(std::function<void(bool)> on_commit) {
    if (pending_.events.empty() && pending_.dropped.empty() && !on_commit) return;
    pending_.counters = counters_;
    pending_.on_commit = std::move(on_commit);
    if (pending_.tool.empty() && context_) {
        pending_.tool = context_->hello.tool().tool();
        pending_.destination = context_->destination;
    }
    if (pending_.tool.empty() && pending_.events.empty()) {
        // A flush before any hello: nothing of ours can be pending, but keep the FIFO order.
        auto done = std::move(pending_.on_commit);
        intake_.store().run([](EventStore::Tx&) {}, std::move(done));
    } else {
        intake_.store().submit(std::move(pending_));
    }
    pending_ = IntakeBatch{};
}

void Session::on_flush(std::uint64_t request_id) {
    v1::AgentReply reply;
    auto* ack = reply.mutable_flush_ack();
    ack->set_request_id(request_id);
    ack->set_accepted(counters_->accepted.load());
    ack->set_duplicates(counters_->duplicates.load());
    ack->set_dropped(dropped_);
    send(reply);
}

void Session::send(const v1::AgentReply& reply) {
    if (!socket_.is_open()) return;
    std::string frame;
    framing::append_message(frame, reply);
    write_bytes_ += frame.size();
    writes_.push_back(std::move(frame));
    if (replies_over_limit(writes_.size(), write_bytes_, limits_)) {
        // A client that sends flushes (or control requests) and never reads the replies would
        // otherwise grow the agent's memory without bound.
        spdlog::warn("connection {}: the client does not read its replies ({} waiting, {} bytes); closing", id_,
                     writes_.size(), write_bytes_);
        submit_pending(nullptr);
        closing_ = true;
        close();  // the pending write fails and clears the queue
        return;
    }
    if (writes_.size() == 1) write_next();
}

void Session::write_next() {
    asio::async_write(socket_, asio::buffer(writes_.front()),
                      [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                          self->write_bytes_ -= self->writes_.front().size();
                          self->writes_.pop_front();
                          if (error) {
                              self->writes_.clear();
                              self->write_bytes_ = 0;
                              self->close();
                              return;
                          }
                          if (!self->writes_.empty()) {
                              self->write_next();
                          } else if (self->closing_) {
                              self->close();
                          }
                      });
}

void Session::fail(const std::string& reason) {
    spdlog::warn("connection {}: closing: {}", id_, reason);
    submit_pending(nullptr);  // what arrived before the bad frame is valid
    closing_ = true;
    v1::AgentReply reply;
    reply.mutable_error()->set_reason(reason);
    send(reply);
}

}  // namespace tk::agent
