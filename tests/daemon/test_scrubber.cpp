// The scrubber's rules (docs/privacy.md, section 3) as a corpus of what must be scrubbed and what
// must stay, its bounds (a cut never leaves an identifying prefix) and its linear running time.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "tk/agent/scrubber.hpp"

using namespace tk::agent;
namespace v1 = telemetry_kit::v1;

namespace {

const Scrubber& alice() {
    static const Scrubber scrubber("/home/alice", "alice");
    return scrubber;
}

std::string scrubbed(std::string text, const Scrubber& scrubber = alice()) {
    scrubber.scrub(text);
    return text;
}

/// Each pair: input, expected output.
void check_corpus(const std::vector<std::pair<std::string, std::string>>& corpus) {
    for (const auto& [input, expected] : corpus) {
        INFO("input: " << input);
        CHECK(scrubbed(input) == expected);
    }
}

/// Inputs that no rule may touch.
void check_unchanged(const std::vector<std::string>& corpus) {
    for (const auto& input : corpus) {
        std::string text = input;
        INFO("input: " << input);
        CHECK_FALSE(alice().scrub(text));
        CHECK(text == input);
    }
}

}  // namespace

TEST_CASE("scrubber: credentials in URLs, any host, any password characters") {
    check_corpus({
        {"https://bob:hunter2@example.com/x", "https://<credentials>@example.com/x"},
        {"postgres://svc:p4ss@10.1.2.3:5432/db", "postgres://<credentials>@<ip>:5432/db"},
        {"redis://:secret@localhost:6379", "redis://<credentials>@localhost:6379"},
        {"https://bob@intranet/repo.git", "https://<credentials>@intranet/repo.git"},
        {"ftp://u:p@ss@w0rd@host", "ftp://<credentials>@host"},               // '@' in the password
        {"https://u:pa/ss#?x@host/path", "https://<credentials>@host/path"},  // '/', '#', '?' too
        {"https://u:%40%3A@h.example/", "https://<credentials>@h.example/"},
        {"clone git+ssh://git@github.com:org/repo done", "clone git+ssh://<credentials>@github.com:org/repo done"},
        {"a https://x:y@h1 and https://z:w@h2", "a https://<credentials>@h1 and https://<credentials>@h2"},
    });
    check_unchanged({
        "https://example.com/path",
        "https://example.com:8080/@scope/pkg",  // a port, then '@' in the path
        "https://registry.npmjs.org/@types/node",
        "file:///usr/share/doc",
        "see ://nothing here",
    });
}

TEST_CASE("scrubber: secret shapes") {
    check_corpus({
        {"token ghp_" + std::string(36, 'a'), "token <secret>"},
        {"gho_0123456789abcdefghijABCDEF", "<secret>"},
        {"github_pat_11ABCDEFG0abcdefghij_klmnopqrstuv", "<secret>"},
        {"SLACK=xoxb-1234567890-abcdefghij", "SLACK=<secret>"},
        {"xoxp-12345-67890-abcdef", "<secret>"},
        {"key AKIAIOSFODNN7EXAMPLE.", "key <secret>."},
        {"ASIAY34FZKBOKMUTVV7A", "<secret>"},
        {"glpat-abcdefghij0123456789", "<secret>"},
        {"npm_abcdefghijklmnopqrstuvwxyz0123456789", "<secret>"},
        {"jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
         "jwt=<secret>"},
        {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "<secret>"},  // unsigned: empty signature
        {"Authorization: Bearer abc.def-123_ghi", "Authorization: <secret>"},
        {"header Bearer 0123456789abcdefghijklmn", "header Bearer <secret>"},
        {"bearer tok3n-xyz", "bearer <secret>"},
        {"authorization=Basic dXNlcjpwYXNz\nnext line", "authorization=<secret>\nnext line"},
        {"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nafter", "<private-key>\nafter"},
        {"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk", "<private-key>"},  // cut: to the end
        {"x -----BEGIN PRIVATE KEY----- abc -----END PRIVATE KEY----- y", "x <private-key> y"},
    });
    check_unchanged({
        "ghp_short",                       // too short to be a token
        "my_ghp_" + std::string(36, 'a'),  // not at the start of a word
        "AKIA1234",                        // not 16 characters after the prefix
        "AKIAIOSFODNN7EXAMPLEX",           // 17
        "xox-no",
        "Bearer tokens expire",  // prose, not a token
        "the bearer of bad news", "eyJ.not.a.jwt",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",  // public
        "-----BEGIN PUBLIC KEY-----",
        "authorization failed",  // no ':' or '='
    });
}

TEST_CASE("scrubber: MAC addresses") {
    check_corpus({
        {"eth0 00:1a:2b:3c:4d:5e up", "eth0 <mac> up"},
        {"AA-BB-CC-DD-EE-FF", "<mac>"},
        {"mac=00:1A:2b:3C:4d:5E.", "mac=<mac>."},
    });
    check_unchanged({
        "00:1a:2b:3c:4d",                        // five groups
        "00:1a:2b:3c:4d:5e:6f:70:81",            // not six groups
        "00:1a-2b:3c:4d:5e",                     // mixed separators
        "550e8400-e29b-41d4-a716-446655440000",  // a UUID
        "at 12:30:45",
        "2024-01-02-03-04-05",
    });
}

TEST_CASE("scrubber: home directories of anyone, any case") {
    check_corpus({
        {"/home/alice/src", "~/src"},
        {"/HOME/Alice/src", "~/src"},  // the agent user's own, in any case
        {"/home/bob/.config/x", "/home/<user>/.config/x"},
        {"/home/alicex/y", "/home/<user>/y"},
        {"/Users/Carol/Library", "/Users/<user>/Library"},
        {"/users/carol", "/users/<user>"},
        {"C:\\Users\\Dave\\AppData", "C:\\Users\\<user>\\AppData"},
        {"c:/users/dave/x", "c:/users/<user>/x"},
        {"C:\\\\Users\\\\Erin Smith\\\\x", "C:\\\\Users\\\\<user>\\\\x"},  // JSON-escaped, a space in the name
        {"/mnt/c/Users/frank/x", "/mnt/c/Users/<user>/x"},                 // WSL
        {"/var/home/gina/x", "/var/home/<user>/x"},                        // Silverblue
        {"cwd=/home/hank and more", "cwd=/home/<user> and more"},
        {"\"/home/ivan\"", "\"/home/<user>\""},
    });
    check_unchanged({
        "/Users/Shared/file",
        "C:\\Users\\Public\\Desktop",
        "/homepage/x",
        "/home/",
        "/usr/local/bin",
        "homework/alice2",
    });
}

TEST_CASE("scrubber: the login name, any case, as a whole word") {
    check_corpus({
        {"user alice ran it", "user <user> ran it"},
        {"ALICE and Alice", "<user> and <user>"},
        {"alice.smith", "<user>.smith"},
    });
    check_unchanged({"malice", "alice_b", "alices"});
    // A login name that is a token's word leaves the tokens alone.
    const Scrubber user("/home/user", "user");
    CHECK(scrubbed("/home/bob and user and user@example.com", user) == "/home/<user> and <user> and <email>");
}

TEST_CASE("scrubber: IPv4 glued to '_' or followed by a suffix, IPv6") {
    check_corpus({
        {"host_10.0.0.1", "host_<ip>"},
        {"10.0.0.1_backup", "<ip>_backup"},
        {"10.0.0.1.nip.io", "<ip>.nip.io"},
        {"10.0.0.1abc", "<ip>abc"},
        {"10.0.0.1-prod", "<ip>-prod"},
        {"connect 192.168.1.20:8080", "connect <ip>:8080"},
        {"ip=10.0.0.1.", "ip=<ip>."},
        {"v1.2.3.4", "v<ip>"},  // documented: four numbers of 0-255 look like an address
        {"[2001:db8::1]:443", "[<ip>]:443"},
        {"fe80::1%eth0", "<ip>%eth0"},
        {"::ffff:10.0.0.1", "<ip>"},
        {"node_fe80::1ff:fe23:4567:890a", "node_<ip>"},
    });
    check_unchanged({
        "version 1.2.3",
        "1.2.3.4.5",  // five parts: a version
        "999.1.1.1",
        "10.0.0.256",
        "build 42 ok",
        "std::vector<int>",
        "at 12:30:00",
        "release-2024.1.2",
    });
}

TEST_CASE("scrubber: e-mail addresses") {
    check_corpus({
        {"mail bob@example.com now", "mail <email> now"},
        {"a.b+c@sub.example.org.", "<email>."},
        {"x@y.z@w.v", "<email>@w.v"},
    });
    check_unchanged({"not@email", "@example.com", "a@b."});
}

TEST_CASE("scrubber: a cut value never ends in a prefix the scrubber would have left alone") {
    const auto stored = [](std::string value) {
        v1::Event event;
        (*event.mutable_attributes())["v"].set_string_value(std::move(value));
        alice().apply(event);
        return event.attributes().at("v").string_value();
    };
    // The limit falls inside "alicex": before, the scrubber left "alicex" alone and the cut made it
    // "alice" — the login name, stored.
    const std::string pad(kMaxStringValueBytes - 5 - 4, 'p');
    const std::string cut_name = stored(pad + " in alicex and more");
    CHECK(cut_name == pad + " in ");
    // The limit falls inside "/srv/alicex/…".
    const std::string cut_path = stored(pad.substr(2) + " /srv/alicex/data and more");
    CHECK(cut_path.find("alice") == std::string::npos);
    CHECK(cut_path.size() <= kMaxStringValueBytes);
    // The limit falls inside an e-mail address or an IPv4 address: no piece of it stays.
    CHECK(stored(pad + " bob@example.com").find("bob") == std::string::npos);
    CHECK(stored(std::string(kMaxStringValueBytes - 7, 'p') + " 192.168.1.20").find("192") == std::string::npos);
    // Replacements that make the value longer than the limit: cut again, the same way.
    std::string grows;
    for (int i = 0; i < 203; ++i) grows += "::1 ";
    grows += "abc alicexyz";
    REQUIRE(grows.size() <= kMaxStringValueBytes);
    const std::string regrown = stored(grows);
    CHECK(regrown.size() <= kMaxStringValueBytes);
    CHECK(regrown.find("alice") == std::string::npos);
    CHECK(regrown.substr(regrown.size() - 9) == "<ip> abc ");
    // A cut between words keeps every whole word; a value of words is cut to the limit exactly.
    std::string words;
    for (int i = 0; i < 1000; ++i) words += "word ";
    CHECK(stored(words).size() == kMaxStringValueBytes);
}

TEST_CASE("scrubber: linear time on large pathological values") {
    // Each of these made the old scrubber (or a naive one) quadratic: a search from every '@' to
    // the next '.', replace() in the middle of the string for every match, a look-ahead from
    // every "://" to the end. At 1 MiB a quadratic pass takes minutes; a linear one milliseconds.
    const std::size_t size = std::size_t{1} << 20;
    const auto repeat = [&](const std::string& unit) {
        std::string text;
        while (text.size() < size) text += unit;
        return text;
    };
    const std::vector<std::string> inputs = {
        repeat("a@"),           repeat("a@b.cc "),
        repeat("://"),          repeat("://u:p@h "),
        repeat("https://h:1/"), repeat("/home/alice/"),
        repeat("/home/"),       repeat("/home/bob/"),
        repeat("1.1.1.1."),     repeat("1:"),
        repeat("aa:"),          repeat("-----BEGIN "),
        repeat("Bearer "),      repeat("eyJabcdefghij."),
        repeat("alice "),       repeat("ghp_"),
        repeat("::1 "),         repeat("00:11:22:33:44:55 "),
        std::string(size, '1'), std::string(size, 'a'),
    };
    for (const auto& input : inputs) {
        std::string text = input;
        const auto start = std::chrono::steady_clock::now();
        alice().scrub(text);
        const auto elapsed = std::chrono::steady_clock::now() - start;
        INFO("input starts with: " << input.substr(0, 24));
        // Generous for a loaded 2-core machine and a sanitizer build; quadratic is >100x over.
        CHECK(elapsed < std::chrono::seconds(5));
    }
    // apply() bounds the work first: a 1 MiB value costs no more than a 1 KiB one to scrub.
    v1::Event event;
    (*event.mutable_attributes())["v"].set_string_value(repeat("a@"));
    alice().apply(event);
    CHECK(event.attributes().at("v").string_value().size() <= kMaxStringValueBytes);
}
