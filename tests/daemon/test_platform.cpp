// Platform facts: the pure function over os-release texts and uname fields (odd inputs too),
// and the real agent stamping them on every event, over whatever a client claimed.
#include <catch2/catch.hpp>

#include "agent_client.hpp"
#include "tk/agent/platform.hpp"

using namespace tk::agent;
using namespace tk::test;
namespace v1 = telemetry_kit::v1;

namespace {

PlatformFacts linux_facts(const std::string& os_release, const std::string& machine = "x86_64") {
    return platform_facts({"Linux", "6.1.0-18-amd64", machine}, os_release, "1.2.3");
}

RunResult tk_run(RunningAgent& agent, std::vector<std::string> args) {
    ProcessOptions options;
    options.argv = {binary("tk").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = agent.env();
    return run(options, std::chrono::seconds(20));
}

}  // namespace

TEST_CASE("os-release: distribution id and the major of VERSION_ID, nothing finer") {
    const auto debian = linux_facts(
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
        "VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n");
    CHECK(debian.os == "linux");
    CHECK(debian.os_version == "debian 12");
    CHECK(debian.arch == "x86_64");
    CHECK(debian.agent_version == "1.2.3");
    CHECK(linux_os_version("NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n") == "ubuntu 22");
    CHECK(linux_os_version("ID=alpine\nVERSION_ID=3.19.1\n") == "alpine 3");
    CHECK(linux_os_version("ID='fedora'\nVERSION_ID='39'\n") == "fedora 39");
    CHECK(linux_os_version("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n") == "rhel 9");
}

TEST_CASE("os-release: rolling releases, snapshots and missing versions give the id alone") {
    CHECK(linux_os_version("NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n") == "arch");
    CHECK(linux_os_version("PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nID=debian\n") == "debian");
    // A Tumbleweed snapshot date singles out far more than a major version would.
    CHECK(linux_os_version("ID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20231001\"\n") == "opensuse-tumbleweed");
    CHECK(linux_os_version("ID=gentoo\nVERSION_ID=v2\n") == "gentoo");
}

TEST_CASE("os-release: odd files are read carefully or not at all") {
    CHECK(linux_os_version("") == "");
    CHECK(linux_os_version("NAME=Linux\nVERSION_ID=5\n") == "");  // no ID
    CHECK(linux_os_version("ID=\n") == "");
    // Not an os-release ID: capitals, spaces, a hostname-like value, too long.
    CHECK(linux_os_version("ID=\"my host.example\"\nVERSION_ID=1\n") == "");
    CHECK(linux_os_version("ID=Debian\n") == "");
    CHECK(linux_os_version("ID=" + std::string(33, 'a') + "\n") == "");
    CHECK(linux_os_version("ID=" + std::string(32, 'a') + "\n") == std::string(32, 'a'));
    // Comments, indentation, CRLF line ends, keys that merely start with ID, the last value wins.
    CHECK(linux_os_version("# ID=commented\r\n  ID=debian\r\nID_LIKE=ubuntu\r\nVERSION_ID=\"11\"\r\n") == "debian 11");
    CHECK(linux_os_version("ID=first\nID=second\nVERSION_ID=7\n") == "second 7");
    CHECK(linux_os_version("VARIANT_ID=workstation\nID=fedora\nVERSION_ID=40\n") == "fedora 40");
    CHECK(linux_os_version("ID=\"deb\\ian\"\n") == "debian");  // a backslash escape in double quotes
    CHECK(linux_os_version(std::string("ID=debian\0\nVERSION_ID=12\n", 25)) == "");
}

TEST_CASE("uname: OS family, macOS and BSD major versions, normalised architecture") {
    const auto mac = platform_facts({"Darwin", "23.4.0", "arm64"}, "", "1.0");
    CHECK(mac.os == "macos");
    CHECK(mac.os_version == "macos 14");
    CHECK(mac.arch == "arm64");
    CHECK(platform_facts({"Darwin", "20.6.0", "x86_64"}, "", "").os_version == "macos 11");
    CHECK(platform_facts({"Darwin", "19.6.0", "x86_64"}, "", "").os_version == "macos 10.15");
    CHECK(platform_facts({"Darwin", "weird", "x86_64"}, "", "").os_version == "");
    // macOS ignores any os-release text: Darwin's release is the source.
    CHECK(platform_facts({"Darwin", "24.0.0", "arm64"}, "ID=debian\nVERSION_ID=12\n", "").os_version == "macos 15");
    const auto bsd = platform_facts({"FreeBSD", "14.0-RELEASE-p3", "amd64"}, "", "");
    CHECK(bsd.os == "freebsd");
    CHECK(bsd.os_version == "freebsd 14");
    CHECK(bsd.arch == "x86_64");
    CHECK(platform_facts({"MINGW64_NT-10.0-19045", "3.4.10", "x86_64"}, "", "").os == "windows");
    const auto other = platform_facts({"SunOS", "5.11", "i86pc"}, "ID=debian\n", "");
    CHECK(other.os == "other");
    CHECK(other.os_version == "");
    CHECK(other.arch == "other");
    CHECK(platform_facts({}, "", "").os == "other");

    CHECK(normalise_arch("aarch64") == "arm64");
    CHECK(normalise_arch("i686") == "x86");
    CHECK(normalise_arch("armv7l") == "arm");
    CHECK(normalise_arch("armv6l") == "arm");
    CHECK(normalise_arch("riscv64") == "riscv64");
    CHECK(normalise_arch("ppc64le") == "ppc64le");
    CHECK(normalise_arch("s390x") == "s390x");
    CHECK(normalise_arch("") == "other");
    CHECK(normalise_arch("x86_64 ") == "other");
}

TEST_CASE("the appended platform bytes equal stamping the fields and serializing") {
    v1::Event event = make_event("build");
    event.set_tool("t");
    std::string appended = event.SerializeAsString() + local_platform_wire();
    stamp_platform(event, local_platform());
    CHECK(appended == event.SerializeAsString());
    CHECK(has_platform_fields(event));
}

TEST_CASE("the agent stamps its platform facts on every event, over anything a client claimed") {
    const PlatformFacts& local = local_platform();
    REQUIRE(local.os == "linux");  // the test machine
    REQUIRE(!local.agent_version.empty());

    RunningAgent agent;
    AgentClient client(agent.socket());
    REQUIRE(client.hello(tool_identity("plat")));
    REQUIRE(client.event(make_event("plain")));
    auto claimed = make_event("claimed");
    claimed.set_os("windows");
    claimed.set_os_version("my-laptop.example.com");
    claimed.set_arch("secret-cpu-serial");
    claimed.set_agent_version("0.0.0-evil");
    REQUIRE(client.event(claimed));
    auto partly = make_event("partly");  // a field the agent may leave empty must not survive either
    partly.set_os_version("hostname");
    REQUIRE(client.event(partly));
    REQUIRE(client.flush());

    const auto events = agent.control(events_request("plat")).events();
    REQUIRE(events.events_size() == 3);
    for (const auto& event : events.events()) {
        INFO(event.name());
        CHECK(event.os() == local.os);
        CHECK(event.os_version() == local.os_version);
        CHECK(event.arch() == local.arch);
        CHECK(event.agent_version() == local.agent_version);
    }

    const auto listed = tk_run(agent, {"events", "--tool", "plat"});
    REQUIRE(listed.exit_code == 0);
    std::string expected = "platform linux";
    if (!local.os_version.empty()) expected += " (" + local.os_version + ")";
    expected += " " + local.arch + ", agent " + local.agent_version + "]";
    CHECK(listed.out.find(expected) != std::string::npos);
    CHECK(listed.out.find("my-laptop") == std::string::npos);
}
