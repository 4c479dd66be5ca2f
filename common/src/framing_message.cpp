// framing::append_message: apart from framing.cpp so that the codec itself needs no protobuf.
#include <google/protobuf/message_lite.h>

#include <cstdint>

#include "tk/common/framing.hpp"

namespace tk::framing {

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

}  // namespace tk::framing
