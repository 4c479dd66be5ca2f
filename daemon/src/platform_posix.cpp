// The I/O shell of platform facts: uname(2) and the os-release file, read once per process.
// Linux and the BSDs fill os_version from os-release / uname's release, macOS from Darwin's
// release (it has no os-release file), so one POSIX shell serves them all.
#include <sys/utsname.h>

#include <fstream>

#include "tk/agent/platform.hpp"
#include "tk/agent/version.hpp"

namespace tk::agent {

namespace {

/// The first 64 KiB of the first os-release file that exists (a real one is under 1 KiB).
std::string read_os_release() {
    for (const char* path : {"/etc/os-release", "/usr/lib/os-release"}) {
        std::ifstream in(path, std::ios::binary);
        if (!in) continue;
        std::string text(64 * 1024, '\0');
        in.read(text.data(), static_cast<std::streamsize>(text.size()));
        text.resize(static_cast<std::size_t>(in.gcount()));
        return text;
    }
    return {};
}

PlatformFacts read_local_platform() {
    UnameFields fields;
    struct utsname name {};
    if (::uname(&name) == 0) {
        fields.sysname = name.sysname;
        fields.release = name.release;
        fields.machine = name.machine;
    }
    return platform_facts(fields, read_os_release(), version());
}

}  // namespace

const PlatformFacts& local_platform() {
    static const PlatformFacts facts = read_local_platform();
    return facts;
}

const std::string& local_platform_wire() {
    static const std::string wire = [] {
        telemetry_kit::v1::Event only_platform;
        stamp_platform(only_platform, local_platform());
        return only_platform.SerializeAsString();
    }();
    return wire;
}

}  // namespace tk::agent
