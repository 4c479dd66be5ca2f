#include "support/collector_fixture.hpp"

#include <algorithm>
#include <stdexcept>

namespace tk::test {

CollectorFixture::CollectorFixture(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
    tls_ = std::find(extra_args_.begin(), extra_args_.end(), "--tls-cert") != extra_args_.end();
    port_ = free_tcp_port();
    start();
}

CollectorFixture::~CollectorFixture() {
    if (process_) process_->kill();
}

std::string CollectorFixture::base_url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::string CollectorFixture::log() const {
    return read_file(dir_ / ("collector-" + std::to_string(starts_) + ".log"));
}

void CollectorFixture::start() {
    if (process_ && process_->running()) throw std::logic_error("the collector is already running");
    ++starts_;
    ProcessOptions options;
    options.argv = {binary("tk-collector").string(),      "serve",          "--listen",
                    "127.0.0.1:" + std::to_string(port_), "--database-url", postgres_.url()};
    options.argv.insert(options.argv.end(), extra_args_.begin(), extra_args_.end());
    options.env = hermetic_env(dir_.path());
    options.stderr_file = dir_ / ("collector-" + std::to_string(starts_) + ".log");
    options.stdout_file = dir_ / ("collector-" + std::to_string(starts_) + ".out");
    process_.emplace(options);
    const bool ready =
        wait_until([&] { return log().find("listening on") != std::string::npos || !process_->running(); },
                   std::chrono::seconds(10));
    if (!ready || !process_->running()) {
        const std::string output = log();
        process_->kill();
        process_.reset();
        throw std::runtime_error("tk-collector did not start:\n" + output);
    }
}

int CollectorFixture::stop(std::chrono::milliseconds deadline) {
    if (!process_) return -1;
    const int code = process_->stop(deadline);
    process_.reset();
    return code;
}

bool CollectorFixture::running() { return process_ && process_->running(); }

RunResult CollectorFixture::run_command(std::vector<std::string> args) const {
    ProcessOptions options;
    options.argv = {binary("tk-collector").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.argv.insert(options.argv.end(), {"--database-url", postgres_.url()});
    options.env = hermetic_env(dir_.path());
    return run(options, std::chrono::seconds(30));
}

std::string CollectorFixture::create_key(const std::string& tool) const {
    const RunResult result = run_command({"keys", "create", "--tool", tool});
    std::string key = result.out;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    if (result.exit_code != 0 || key.empty() || key.find('\n') != std::string::npos) {
        throw std::runtime_error("tk-collector keys create failed: " + result.err);
    }
    return key;
}

}  // namespace tk::test
