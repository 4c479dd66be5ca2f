// Fuzz target: the agent's frame decoder (tk::framing::FrameDecoder), fed a byte stream in chunks.
// The first input byte picks the chunk size, so one input also covers frames split across reads.
// Invariants checked: no frame is longer than the limit, a rejected header stops the stream, and
// every byte fed is either returned in a frame or still buffered.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tk/common/framing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t chunk = 1 + data[0] % 64;
    std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    constexpr std::size_t kLimit = 4096;  // small, so that the fuzzer reaches too_large easily
    tk::framing::FrameDecoder decoder(kLimit);
    std::size_t fed = 0;
    std::size_t returned = 0;  // payloads plus their headers
    while (!stream.empty()) {
        const auto piece = stream.substr(0, chunk);
        stream.remove_prefix(piece.size());
        decoder.feed(piece);
        fed += piece.size();
        std::string_view payload;
        for (;;) {
            const auto status = decoder.next(payload);
            if (status == tk::framing::FrameDecoder::Status::too_large) {
                if (decoder.rejected_length() <= kLimit) std::abort();
                return 0;
            }
            if (status == tk::framing::FrameDecoder::Status::need_more) break;
            if (payload.size() > kLimit) std::abort();
            returned += payload.size() + tk::framing::kHeaderBytes;
        }
        if (returned + decoder.buffered() != fed) std::abort();
    }
    return 0;
}
