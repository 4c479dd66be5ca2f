#pragma once
// Helpers for the client tests: scoped environment variables, reading the spool file back.

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "telemetry_kit/v1/agent.pb.h"
#include "tk/common/spool_format.hpp"

namespace tk::test {

/// Sets (or unsets, with nullopt) an environment variable for the current scope.
class ScopedEnv {
public:
    ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        if (value) {
            ::setenv(name_.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ~ScopedEnv() {
        if (old_) {
            ::setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

/// A private home (state dir) and socket path for one test, exported to this process.
struct ClientHome {
    TempDir dir{"tk-client-"};
    fs::path home = dir / "home";
    fs::path socket = dir / "run" / "agent.sock";
    ScopedEnv home_env{"TELEMETRY_KIT_HOME", home.string()};
    ScopedEnv socket_env{"TELEMETRY_KIT_SOCKET", socket.string()};
    ClientHome() {
        fs::create_directories(home);
        fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace);
        fs::create_directories(socket.parent_path());
        fs::permissions(socket.parent_path(), fs::perms::owner_all, fs::perm_options::replace);
    }
    fs::path spool() const { return home / "spool"; }
};

/// Every record of a spool file; a torn, corrupt or unparsable record fails the test.
inline std::vector<telemetry_kit::v1::SpoolRecord> read_spool(const fs::path& file) {
    const std::string bytes = read_file(file);
    const tk::spool::Scan scan = tk::spool::scan(bytes);
    if (scan.legacy) throw std::runtime_error("spool in the legacy format (no checksums)");
    if (scan.damaged_spans != 0) throw std::runtime_error("torn or corrupt spool record");
    std::vector<telemetry_kit::v1::SpoolRecord> records;
    for (const std::string_view payload : scan.records) {
        telemetry_kit::v1::SpoolRecord record;
        if (!record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
            throw std::runtime_error("unparsable spool record");
        }
        records.push_back(std::move(record));
    }
    return records;
}

}  // namespace tk::test
