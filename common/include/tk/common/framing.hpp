#pragma once
/// Framing of every message on the agent socket and in the spool file:
/// a 4-byte big-endian payload length, then the payload (one protobuf message).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tk/common/big_endian.hpp"

namespace google::protobuf {
class MessageLite;
}

namespace tk::framing {

/// Bytes in the length prefix.
inline constexpr std::size_t kHeaderBytes = 4;
/// Largest payload a client may send to the agent (and a spool record may hold).
inline constexpr std::size_t kMaxClientFrameBytes = 1u << 20;  // 1 MiB
/// Largest payload the agent may send back (control replies such as `tk events`).
inline constexpr std::size_t kMaxReplyFrameBytes = 64u << 20;  // 64 MiB

/// Appends the 4-byte big-endian length prefix for a payload of `size` bytes.
inline void append_header(std::string& out, std::uint32_t size) { append_be32(out, size); }

/// The payload length in the kHeaderBytes at `at`.
inline std::uint32_t read_header(const char* at) noexcept { return read_be32(at); }

/// Appends `payload` as one frame.
void append_frame(std::string& out, std::string_view payload);

/// Appends `message` serialized as one frame. Returns false if it could not be serialized.
bool append_message(std::string& out, const google::protobuf::MessageLite& message);

/// Incremental decoder: copes with a frame split across reads and many frames in one read, and
/// rejects an over-long length as soon as the header arrives, before buffering the payload.
class FrameDecoder {
public:
    enum class Status {
        frame,      ///< `next` produced a frame
        need_more,  ///< no complete frame buffered yet
        too_large,  ///< the next frame's length exceeds the limit; the stream is unusable
    };

    explicit FrameDecoder(std::size_t max_frame_bytes = kMaxClientFrameBytes);

    /// Buffers bytes read from the stream.
    void feed(const char* data, std::size_t size);
    void feed(std::string_view bytes) { feed(bytes.data(), bytes.size()); }

    /// Extracts the next complete frame. On `Status::frame`, `payload` views the frame's
    /// bytes, valid until the next call to `feed` or `next`.
    Status next(std::string_view& payload);

    /// Bytes buffered but not yet returned as frames (a half frame at end of stream).
    std::size_t buffered() const { return buffer_.size() - consumed_; }

    /// The length announced by the header that made `next` return `too_large`.
    std::uint64_t rejected_length() const { return rejected_length_; }

    std::size_t max_frame_bytes() const { return max_frame_bytes_; }

private:
    std::size_t max_frame_bytes_;
    std::string buffer_;
    std::size_t consumed_ = 0;
    std::uint64_t rejected_length_ = 0;
};

}  // namespace tk::framing
