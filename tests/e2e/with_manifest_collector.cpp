// with_manifest_collector [--cwd DIR] -- COMMAND...: runs COMMAND (in DIR) (a client library's consent test) next to the
// real tk-collector over a throwaway PostgreSQL that publishes a manifest for one tool, so the
// clients of every language are tested against the real agent + collector + manifest, as the C++
// one is. The command learns where through its environment:
//   TK_TEST_MANIFEST_ENDPOINT  the collector's base URL
//   TK_TEST_MANIFEST_TOOL      the tool whose manifest (version 1) it publishes
//   TK_TEST_MANIFEST_KEY       an ingest key of that tool
//   TK_TEST_MANIFEST_SUMMARY   the short form the consent prompt must show (tk::manifest::summary,
//                              the same words the C++ client shows)
// The command starts its own agent (its test harness does). Exit status: the command's.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/collector_fixture.hpp"
#include "support/process.hpp"
#include "tk/common/manifest.hpp"

using namespace std::chrono_literals;

namespace {

constexpr const char* kTool = "manifested-cli";
constexpr const char* kManifest = R"json({
  "tool": "manifested-cli",
  "description": "Which builds people run.",
  "events": [
    {"kind": "command", "name": "build",
     "attributes": {"profile": {"type": "string", "values": ["debug", "release"]}, "jobs": {"type": "int"}}},
    {"kind": "feature", "name": "cache.*", "sample_rate": 0.5}
  ]
})json";

int run(const std::vector<std::string>& command, const std::string& cwd) {
    tk::test::CollectorFixture collector;
    tk::test::TempDir dir("tk-manifest-harness-");
    const auto file = dir / "manifest.json";
    std::ofstream(file) << kManifest;
    const auto set = collector.run_command({"tools", "manifest", "set", kTool, file.string()});
    if (set.exit_code != 0) {
        std::fprintf(stderr, "with_manifest_collector: manifest set failed: %s%s\n", set.out.c_str(), set.err.c_str());
        return 1;
    }
    auto manifest = tk::manifest::parse(kManifest);
    if (!manifest) {
        std::fprintf(stderr, "with_manifest_collector: %s\n", manifest.error().c_str());
        return 1;
    }
    manifest->set_version(1);  // the collector's first version
    tk::test::ProcessOptions options;
    options.argv = command;
    if (!cwd.empty()) options.cwd = cwd;
    options.env = {{"TK_TEST_MANIFEST_ENDPOINT", collector.base_url()},
                   {"TK_TEST_MANIFEST_TOOL", kTool},
                   {"TK_TEST_MANIFEST_KEY", collector.create_key(kTool)},
                   {"TK_TEST_MANIFEST_SUMMARY", tk::manifest::summary(*manifest)}};
    tk::test::ChildProcess child(options);
    const auto status = child.wait(590s);  // within ctest's timeout: the cluster is removed after
    if (!status) {
        std::fprintf(stderr, "with_manifest_collector: the command did not finish in time\n");
        return 1;
    }
    return *status;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> command;
    std::string cwd;
    int i = 1;
    if (i + 1 < argc && std::string(argv[i]) == "--cwd") {
        cwd = argv[i + 1];
        i += 2;
    }
    if (i < argc && std::string(argv[i]) == "--") ++i;
    for (; i < argc; ++i) command.emplace_back(argv[i]);
    if (command.empty()) {
        std::fprintf(stderr, "usage: with_manifest_collector [--cwd DIR] -- COMMAND [ARGS...]\n");
        return 2;
    }
    try {
        return run(command, cwd);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "with_manifest_collector: %s\n", e.what());
        return 1;
    }
}
