#pragma once
/// The test's wall clock for the processes it starts: TK_TEST_NOW_FILE (tk/common/clock.hpp)
/// names a file of Unix milliseconds that tk-agent and tk-collector read on each quota or pause
/// decision. Processes started while a TestClock lives inherit it; set() moves their time.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "support/process.hpp"

namespace tk::test {

class TestClock {
public:
    explicit TestClock(std::int64_t now_ms) {
        set(now_ms);
        ::setenv("TK_TEST_NOW_FILE", path_.c_str(), 1);
    }
    ~TestClock() { ::unsetenv("TK_TEST_NOW_FILE"); }
    TestClock(const TestClock&) = delete;
    TestClock& operator=(const TestClock&) = delete;

    void set(std::int64_t now_ms) {
        const auto temp = dir_.path() / "now.tmp";
        std::ofstream(temp) << now_ms << "\n";
        std::filesystem::rename(temp, path_);  // whole or not at all: a reader never sees half a number
    }

private:
    TempDir dir_{"tk-clock-"};
    std::filesystem::path path_ = dir_.path() / "now";
};

}  // namespace tk::test
