// A tool that tracks one command and exits (`telemetry`), the same tool without it (`none`), and
// the physical limit of the agent-absent case: one bare append of a record-sized buffer to a file
// (`append FILE`: open with O_APPEND, one write(), close — what the spool costs at least).
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "telemetry_kit/client.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "telemetry") == 0) {
        telemetry_kit::Client telemetry({"bench-tool", "1.0.0"});
        telemetry.track_command("build", {{"target", "release"}}).success(true).duration_us(1200);
    } else if (argc > 2 && std::strcmp(argv[1], "append") == 0) {
        const char record[108] = {};
        const int fd = ::open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || ::write(fd, record, sizeof record) != static_cast<ssize_t>(sizeof record)) return 1;
        ::close(fd);
    }
    return 0;
}
