#include "tk/common/framing.hpp"

#include <google/protobuf/message_lite.h>

namespace tk::framing {

void append_header(std::string& out, std::uint32_t size) {
    const char header[kHeaderBytes] = {
        static_cast<char>((size >> 24) & 0xff),
        static_cast<char>((size >> 16) & 0xff),
        static_cast<char>((size >> 8) & 0xff),
        static_cast<char>(size & 0xff),
    };
    out.append(header, kHeaderBytes);
}

void append_frame(std::string& out, std::string_view payload) {
    append_header(out, static_cast<std::uint32_t>(payload.size()));
    out.append(payload);
}

bool append_message(std::string& out, const google::protobuf::MessageLite& message) {
    const std::size_t size = message.ByteSizeLong();
    if (size > UINT32_MAX) return false;
    const std::size_t start = out.size();
    append_header(out, static_cast<std::uint32_t>(size));
    out.resize(start + kHeaderBytes + size);
    if (!message.SerializeToArray(out.data() + start + kHeaderBytes, static_cast<int>(size))) {
        out.resize(start);
        return false;
    }
    return true;
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
    const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + consumed_);
    const std::uint64_t length = (std::uint64_t{p[0]} << 24) | (std::uint64_t{p[1]} << 16) |
                                 (std::uint64_t{p[2]} << 8) | std::uint64_t{p[3]};
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
