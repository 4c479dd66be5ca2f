// The frame codec with no protobuf in it (the client library links it); append_message, which
// serializes a protobuf message, is in framing_message.cpp.
#include "tk/common/framing.hpp"

namespace tk::framing {

void append_frame(std::string& out, std::string_view payload) {
    append_header(out, static_cast<std::uint32_t>(payload.size()));
    out.append(payload);
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::feed(const char* data, std::size_t size) {
    // Drop what was already handed out before growing, so the buffer stays about one frame long.
    if (consumed_ > 0 && (consumed_ == buffer_.size() || consumed_ >= buffer_.size() / 2)) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    buffer_.append(data, size);
}

FrameDecoder::Status FrameDecoder::next(std::string_view& payload) {
    const std::size_t available = buffer_.size() - consumed_;
    if (available < kHeaderBytes) return Status::need_more;
    const std::uint64_t length = read_header(buffer_.data() + consumed_);
    if (length > max_frame_bytes_) {
        rejected_length_ = length;
        return Status::too_large;
    }
    if (available < kHeaderBytes + length) return Status::need_more;
    payload = std::string_view(buffer_.data() + consumed_ + kHeaderBytes, length);
    consumed_ += kHeaderBytes + length;
    return Status::frame;
}

}  // namespace tk::framing
