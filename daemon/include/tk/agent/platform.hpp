#pragma once
/// Platform facts the agent stamps on every event (docs/privacy.md, "Platform facts"): the OS
/// family, a coarse OS version, the CPU architecture and the agent's version. Nothing finer:
/// no hostname, kernel build string, locale, timezone or hardware id. Deciding what to send is
/// a pure function of the os-release text and uname's fields; reading them is a thin shell.

#include <string>
#include <string_view>

#include "telemetry_kit/v1/event.pb.h"

namespace tk::agent {

/// The uname(2) fields the facts are made from (nodename and version are never read).
struct UnameFields {
    std::string sysname;  ///< "Linux", "Darwin", "FreeBSD", ...
    std::string release;  ///< "6.1.0-18-amd64", "23.4.0", "14.0-RELEASE-p3"
    std::string machine;  ///< "x86_64", "aarch64", "arm64", ...
};

struct PlatformFacts {
    std::string os;          ///< "linux", "macos", "freebsd", "windows", "other"
    std::string os_version;  ///< "debian 12", "ubuntu 22", "arch", "macos 14", "freebsd 14"; "" = unknown
    std::string arch;        ///< "x86_64", "arm64", "x86", "arm", "riscv64", ...; "other" if unknown
    std::string agent_version;
};

/// "x86_64"/"amd64" -> "x86_64", "aarch64"/"arm64" -> "arm64", "i686" -> "x86", "armv7l" -> "arm", ...
std::string normalise_arch(std::string_view machine);

/// `<ID> <major of VERSION_ID>` from an os-release file's text, "<ID>" if VERSION_ID has no
/// short numeric major (rolling releases, date snapshots), "" if ID is missing or not a valid
/// os-release ID (lower-case a-z 0-9 . _ -, at most 32 characters).
std::string linux_os_version(std::string_view os_release);

/// The facts for a machine with these uname fields and this os-release text ("" if none).
PlatformFacts platform_facts(const UnameFields& uname, std::string_view os_release, std::string_view agent_version);

/// This machine's facts: uname(2) and /etc/os-release (or /usr/lib/os-release), read once.
const PlatformFacts& local_platform();

/// Sets the event's platform fields to `facts`, overwriting (or clearing) a client's values.
void stamp_platform(telemetry_kit::v1::Event& event, const PlatformFacts& facts);

/// True if the client set any platform field (then the hot path, which appends, cannot be used).
bool has_platform_fields(const telemetry_kit::v1::Event& event);

/// The serialized platform fields (13-16, non-empty ones only, in field order): appended to
/// an event without them gives the same bytes as stamp_platform() and serializing.
const std::string& local_platform_wire();

}  // namespace tk::agent
