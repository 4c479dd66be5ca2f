// Platform facts as pure functions of uname's fields and the os-release text (see platform.hpp).
#include "tk/agent/platform.hpp"

#include <array>
#include <cctype>
#include <utility>

namespace tk::agent {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

/// The leading decimal digits of `text` if there are 1 to `max_digits` of them, else "".
std::string_view leading_number(std::string_view text, std::size_t max_digits) {
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == 0 || digits > max_digits) return {};
    return text.substr(0, digits);
}

/// One os-release value: unquoted, or in "..." (backslash escapes) or '...'. Enough for ID and
/// VERSION_ID, whose legal characters never need quoting; anything odd fails validation later.
std::string unquote(std::string_view value) {
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r')) {
        value.remove_suffix(1);
    }
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
        const char quote = value.front();
        value = value.substr(1, value.size() - 2);
        std::string out;
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (quote == '"' && value[i] == '\\' && i + 1 < value.size()) ++i;
            out.push_back(value[i]);
        }
        return out;
    }
    return std::string(value);
}

/// The value of `key` in an os-release text (the last assignment wins, like a shell's).
std::string os_release_value(std::string_view text, std::string_view key) {
    std::string found;
    while (!text.empty()) {
        const auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (line.size() > key.size() && starts_with(line, key) && line[key.size()] == '=') {
            found = unquote(line.substr(key.size() + 1));
        }
    }
    return found;
}

bool valid_os_id(std::string_view id) {
    if (id.empty() || id.size() > 32) return false;
    for (const char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

std::string os_family(std::string_view sysname) {
    if (sysname == "Linux") return "linux";
    if (sysname == "Darwin") return "macos";
    if (sysname == "FreeBSD") return "freebsd";
    if (sysname == "OpenBSD") return "openbsd";
    if (sysname == "NetBSD") return "netbsd";
    // uname under MSYS2, Cygwin and Git Bash on Windows.
    if (starts_with(sysname, "MINGW") || starts_with(sysname, "CYGWIN") || starts_with(sysname, "MSYS")) {
        return "windows";
    }
    return "other";
}

/// macOS's major version from Darwin's: Darwin 20+ is macOS (N - 9), Darwin 5-19 is 10.(N - 4).
std::string macos_version(std::string_view darwin_release) {
    const auto major = leading_number(darwin_release, 3);
    if (major.empty()) return {};
    const int darwin = std::stoi(std::string(major));
    if (darwin >= 20) return "macos " + std::to_string(darwin - 9);
    if (darwin >= 5) return "macos 10." + std::to_string(darwin - 4);
    return {};
}

/// "14.0-RELEASE-p3" -> "<family> 14".
std::string bsd_version(const std::string& family, std::string_view release) {
    const auto major = leading_number(release, 3);
    return major.empty() ? std::string() : family + " " + std::string(major);
}

}  // namespace

std::string normalise_arch(std::string_view machine) {
    static const std::array<std::pair<std::string_view, std::string_view>, 16> kNames = {{
        {"x86_64", "x86_64"},
        {"amd64", "x86_64"},
        {"aarch64", "arm64"},
        {"arm64", "arm64"},
        {"i386", "x86"},
        {"i486", "x86"},
        {"i586", "x86"},
        {"i686", "x86"},
        {"riscv64", "riscv64"},
        {"ppc64le", "ppc64le"},
        {"ppc64", "ppc64"},
        {"s390x", "s390x"},
        {"loongarch64", "loongarch64"},
        {"mips64", "mips64"},
        {"aarch64_be", "arm64"},
        {"x86", "x86"},
    }};
    for (const auto& [raw, normal] : kNames) {
        if (machine == raw) return std::string(normal);
    }
    if (starts_with(machine, "armv") || machine == "arm") return "arm";  // armv6l, armv7l, armv8l (32-bit)
    return "other";
}

std::string linux_os_version(std::string_view os_release) {
    const std::string id = os_release_value(os_release, "ID");
    if (!valid_os_id(id)) return {};
    // At most 4 digits: "20231001" (a Tumbleweed snapshot date) is finer than a major version.
    // leading_number() returns a view into its argument, so the value must outlive it.
    const std::string version_id = os_release_value(os_release, "VERSION_ID");
    const auto major = leading_number(version_id, 4);
    return major.empty() ? id : id + " " + std::string(major);
}

PlatformFacts platform_facts(const UnameFields& uname, std::string_view os_release, std::string_view agent_version) {
    PlatformFacts facts;
    facts.os = os_family(uname.sysname);
    if (facts.os == "linux") {
        facts.os_version = linux_os_version(os_release);
    } else if (facts.os == "macos") {
        facts.os_version = macos_version(uname.release);
    } else if (facts.os == "freebsd" || facts.os == "openbsd" || facts.os == "netbsd") {
        facts.os_version = bsd_version(facts.os, uname.release);
    }
    facts.arch = normalise_arch(uname.machine);
    facts.agent_version = std::string(agent_version);
    return facts;
}

void stamp_platform(telemetry_kit::v1::Event& event, const PlatformFacts& facts) {
    event.set_os(facts.os);
    event.set_os_version(facts.os_version);
    event.set_arch(facts.arch);
    event.set_agent_version(facts.agent_version);
}

bool has_platform_fields(const telemetry_kit::v1::Event& event) {
    return !event.os().empty() || !event.os_version().empty() || !event.arch().empty() ||
           !event.agent_version().empty();
}

}  // namespace tk::agent
