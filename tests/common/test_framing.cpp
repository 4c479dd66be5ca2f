#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tk/common/framing.hpp"

using tk::framing::FrameDecoder;
using Status = FrameDecoder::Status;

namespace {

std::vector<std::string> drain(FrameDecoder& decoder) {
    std::vector<std::string> frames;
    std::string_view payload;
    while (decoder.next(payload) == Status::frame) frames.emplace_back(payload);
    return frames;
}

}  // namespace

TEST_CASE("a frame is a 4-byte big-endian length and the payload") {
    std::string out;
    tk::framing::append_frame(out, "abc");
    REQUIRE(out == std::string("\0\0\0\3abc", 7));
    out.clear();
    tk::framing::append_header(out, 0x01020304);
    REQUIRE(out == "\x01\x02\x03\x04");
}

TEST_CASE("a frame split across reads is reassembled, byte by byte") {
    std::string stream;
    tk::framing::append_frame(stream, "hello");
    tk::framing::append_frame(stream, std::string(1000, 'x'));
    FrameDecoder decoder;
    std::vector<std::string> frames;
    for (char c : stream) {
        decoder.feed(&c, 1);
        for (auto& f : drain(decoder)) frames.push_back(f);
    }
    REQUIRE(frames.size() == 2);
    CHECK(frames[0] == "hello");
    CHECK(frames[1] == std::string(1000, 'x'));
    CHECK(decoder.buffered() == 0);
}

TEST_CASE("many frames in one read all come out, in order") {
    std::string stream;
    for (int i = 0; i < 500; ++i) tk::framing::append_frame(stream, "frame-" + std::to_string(i));
    FrameDecoder decoder;
    decoder.feed(stream);
    const auto frames = drain(decoder);
    REQUIRE(frames.size() == 500);
    for (int i = 0; i < 500; ++i) CHECK(frames[i] == "frame-" + std::to_string(i));
}

TEST_CASE("an empty payload is a valid frame") {
    std::string stream;
    tk::framing::append_frame(stream, "");
    tk::framing::append_frame(stream, "x");
    FrameDecoder decoder;
    decoder.feed(stream);
    const auto frames = drain(decoder);
    REQUIRE(frames == std::vector<std::string>{"", "x"});
}

TEST_CASE("an over-long length is rejected from the header alone, before the payload arrives") {
    FrameDecoder decoder(1024);
    std::string header;
    tk::framing::append_header(header, 1025);
    decoder.feed(header);  // no payload at all: the decision must not wait for it
    std::string_view payload;
    REQUIRE(decoder.next(payload) == Status::too_large);
    CHECK(decoder.rejected_length() == 1025);
    // 4 GiB - 1 announced: rejected without trying to buffer it.
    FrameDecoder big;
    big.feed(std::string("\xff\xff\xff\xff", 4));
    REQUIRE(big.next(payload) == Status::too_large);
    CHECK(big.rejected_length() == 0xffffffffULL);
    CHECK(big.buffered() == 4);
}

TEST_CASE("a frame exactly at the limit is accepted") {
    FrameDecoder decoder(1024);
    std::string stream;
    tk::framing::append_frame(stream, std::string(1024, 'a'));
    decoder.feed(stream);
    std::string_view payload;
    REQUIRE(decoder.next(payload) == Status::frame);
    CHECK(payload.size() == 1024);
}

TEST_CASE("a truncated frame stays pending and is visible as buffered bytes") {
    std::string stream;
    tk::framing::append_frame(stream, "complete");
    tk::framing::append_frame(stream, "truncated-payload");
    stream.resize(stream.size() - 5);
    FrameDecoder decoder;
    decoder.feed(stream);
    const auto frames = drain(decoder);
    REQUIRE(frames == std::vector<std::string>{"complete"});
    std::string_view payload;
    CHECK(decoder.next(payload) == Status::need_more);
    CHECK(decoder.buffered() == 4 + std::string("truncated-payload").size() - 5);
    // A half header is pending too.
    FrameDecoder half;
    half.feed(std::string("\0\0", 2));
    CHECK(half.next(payload) == Status::need_more);
    CHECK(half.buffered() == 2);
}

TEST_CASE("the buffer does not grow without bound over a long stream") {
    FrameDecoder decoder;
    std::string frame;
    tk::framing::append_frame(frame, std::string(100, 'z'));
    std::size_t count = 0;
    for (int i = 0; i < 100000; ++i) {
        decoder.feed(frame);
        count += drain(decoder).size();
        REQUIRE(decoder.buffered() == 0);
    }
    CHECK(count == 100000);
}
