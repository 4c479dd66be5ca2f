// The spool record format (tk/common/spool_format.hpp): checksums, and a scan that resynchronises
// past torn and corrupt records instead of dropping the rest of the file.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tk/common/spool_format.hpp"

namespace {

std::vector<std::string> payloads(const tk::spool::Scan& scan) { return {scan.records.begin(), scan.records.end()}; }

std::string record(const std::string& payload) {
    std::string out;
    tk::spool::append_record(out, payload);
    return out;
}

}  // namespace

TEST_CASE("crc32 is zlib's CRC-32") {
    CHECK(tk::spool::crc32("") == 0);
    CHECK(tk::spool::crc32("123456789") == 0xCBF43926u);
    CHECK(tk::spool::crc32("6789", tk::spool::crc32("12345")) == 0xCBF43926u);
}

TEST_CASE("intact records are read back in order, and begin/finish equals append") {
    std::string file = record("first") + record("") + record(std::string(70'000, 'x'));
    std::string built;
    const std::size_t at = tk::spool::begin_record(built);
    built += "last";
    tk::spool::finish_record(built, at);
    CHECK(built == record("last"));
    file += built;
    const auto scan = tk::spool::scan(file);
    CHECK(payloads(scan) == std::vector<std::string>{"first", "", std::string(70'000, 'x'), "last"});
    CHECK(scan.damaged_spans == 0);
    CHECK_FALSE(scan.legacy);
}

TEST_CASE("a torn record in the middle is skipped and the records after it are read") {
    const std::string torn = record("torn in half, its writer was killed");
    const std::string file = record("a") + torn.substr(0, torn.size() / 2) + record("b") + record("c");
    const auto scan = tk::spool::scan(file);
    CHECK(payloads(scan) == std::vector<std::string>{"a", "b", "c"});
    CHECK(scan.damaged_spans == 1);
    CHECK(scan.damaged_bytes == torn.size() / 2);
}

TEST_CASE("corrupt records (payload, length, magic) are skipped, each stretch counted once") {
    std::string bad_payload = record("flipped bit here");
    bad_payload[tk::spool::kHeaderBytes + 3] ^= 0x10;
    std::string bad_length = record("its length says more than there is");
    bad_length[5] = '\x7f';
    std::string bad_magic = record("no magic");
    bad_magic[0] = 'X';
    // A payload that itself holds the magic must not confuse the resync.
    const std::string tricky = "TKS1 inside a payload";
    const std::string file = record("a") + bad_payload + record(tricky) + bad_length + bad_magic + record("b");
    const auto scan = tk::spool::scan(file);
    CHECK(payloads(scan) == std::vector<std::string>{"a", tricky, "b"});
    CHECK(scan.damaged_spans == 2);
    CHECK(scan.damaged_bytes == bad_payload.size() + bad_length.size() + bad_magic.size());
}

TEST_CASE("garbage before the first record, and a torn tail, are counted, and the rest is read") {
    const std::string last = record("cut short");
    const std::string file = "TK junk" + record("a") + record("b") + last.substr(0, 7);
    const auto scan = tk::spool::scan(file);
    CHECK(payloads(scan) == std::vector<std::string>{"a", "b"});
    CHECK(scan.damaged_spans == 2);
    CHECK(scan.damaged_bytes == 7 + 7);
}

TEST_CASE("a record longer than the limit is damage, not a reason to stop") {
    const std::string file = record(std::string(100, 'y')) + record("ok");
    const auto scan = tk::spool::scan(file, 50);
    CHECK(payloads(scan) == std::vector<std::string>{"ok"});
    CHECK(scan.damaged_spans == 1);
}

TEST_CASE("a spool written before checksums (4-byte length, payload) is still read") {
    auto frame = [](const std::string& payload) {
        std::string out(4, '\0');
        out[3] = static_cast<char>(payload.size());
        return out + payload;
    };
    const std::string full = frame("old one") + frame("old two");
    auto scan = tk::spool::scan(full);
    CHECK(scan.legacy);
    CHECK(payloads(scan) == std::vector<std::string>{"old one", "old two"});
    CHECK(scan.damaged_spans == 0);
    const std::string torn = full + frame("torn").substr(0, 5);
    scan = tk::spool::scan(torn);
    CHECK(payloads(scan) == std::vector<std::string>{"old one", "old two"});
    CHECK(scan.damaged_spans == 1);
    CHECK(scan.damaged_bytes == 5);
}
