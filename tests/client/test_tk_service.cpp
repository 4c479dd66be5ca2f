// `tk service install | uninstall | status` for systemd and launchd, into temp dirs.
//
// No systemd user manager (and no launchd) runs on the test machine, so the commands tk runs are
// checked two ways: against the real systemctl, which must fail cleanly and be explained, and
// against a stand-in `systemctl`/`launchctl` first on PATH that records its arguments. The files
// tk writes are checked with the real tools: systemd-analyze verify and xmllint.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "support/process.hpp"

using namespace tk::test;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A temp root with HOME/XDG_* under it and no path to a real user manager or session bus.
struct ServiceSandbox {
    TempDir dir{"tk-service-"};
    std::map<std::string, std::string> env;
    fs::path fake_bin = dir / "fake-bin";
    fs::path calls = dir / "calls.log";

    ServiceSandbox() {
        env = hermetic_env(dir.path());
        env.erase("TELEMETRY_KIT_HOME");  // the defaults, unless a test sets them
        env.erase("TELEMETRY_KIT_SOCKET");
        fs::create_directories(dir / "run");
        fs::permissions(dir / "run", fs::perms::owner_all);
    }
    fs::path unit_dir() const { return fs::path(env.at("XDG_CONFIG_HOME")) / "systemd" / "user"; }
    fs::path plist() const {
        return fs::path(env.at("HOME")) / "Library" / "LaunchAgents" / "dev.telemetry-kit.agent.plist";
    }
    fs::path state_dir() const { return fs::path(env.at("XDG_STATE_HOME")) / "telemetry-kit"; }

    /// Puts a recording `name` first on PATH. `script` is the body of a shell `case "$*" in`.
    void fake(const std::string& name, const std::string& cases = "") {
        fs::create_directories(fake_bin);
        const fs::path path = fake_bin / name;
        std::ofstream(path) << "#!/bin/sh\necho \"" << name << " $*\" >> '" << calls.string() << "'\ncase \"$*\" in\n"
                            << cases << "esac\nexit 0\n";
        fs::permissions(path, fs::perms::owner_all);
        env["PATH"] = fake_bin.string() + ":" + std::getenv("PATH");
    }
    std::string recorded() const { return read_file(calls); }

    RunResult tk(std::vector<std::string> args) const {
        ProcessOptions options;
        options.argv = {binary("tk").string()};
        options.argv.insert(options.argv.end(), args.begin(), args.end());
        options.env = env;
        options.unset_env = {"TELEMETRY_KIT_HOME", "TELEMETRY_KIT_SOCKET", "DBUS_SESSION_BUS_ADDRESS"};
        return run(options, 30s);
    }
};

std::string agent() { return binary("tk-agent").string(); }

/// Runs a system tool (looked up in /usr/bin, /bin) to completion.
RunResult run_tool(std::vector<std::string> argv, std::map<std::string, std::string> env = {}) {
    for (const char* dir : {"/usr/bin", "/bin"}) {
        if (fs::exists(fs::path(dir) / argv.front())) {
            argv.front() = (fs::path(dir) / argv.front()).string();
            break;
        }
    }
    ProcessOptions options;
    options.argv = std::move(argv);
    options.env = std::move(env);
    return run(options, 60s);
}

/// The value after <key>name</key> in the plist's top-level dict, via xmllint's XPath.
std::string plist_value(const fs::path& plist, const std::string& xpath) {
    std::string value = run_tool({"xmllint", "--xpath", "string(" + xpath + ")", plist.string()}).out;
    if (!value.empty() && value.back() == '\n') value.pop_back();
    return value;
}

}  // namespace

TEST_CASE("tk service install --dry-run prints the systemd units and commands and changes nothing") {
    ServiceSandbox box;
    const auto result = box.tk({"service", "install", "--dry-run", "--platform", "systemd", "--agent", agent()});
    REQUIRE(result.exit_code == 0);
    const auto& out = result.out;
    CHECK(contains(out, "would write " + (box.unit_dir() / "telemetry-kit-agent.socket").string() + ":\n"));
    CHECK(contains(out, "would write " + (box.unit_dir() / "telemetry-kit-agent.service").string() + ":\n"));
    CHECK(contains(out, "\nListenStream=%t/telemetry-kit/agent.sock\n"));
    CHECK(contains(out, "\nExecStart=" + agent() + "\n"));
    CHECK(contains(out, "\nType=notify\n"));
    // The sandbox: a user namespace so the file-system options apply, and the state dir this shell
    // resolves (XDG_STATE_HOME here) as the one writable path, made before the sandbox.
    CHECK(contains(out, "\nPrivateUsers=yes\n"));
    CHECK(contains(out, "\nExecStartPre=+/bin/mkdir -p -m 0700 " + box.state_dir().string() + "\n"));
    CHECK(contains(out, "\nReadWritePaths=" + box.state_dir().string() + "\n"));
    CHECK(contains(out, "\nEnvironment=XDG_STATE_HOME=" + box.env.at("XDG_STATE_HOME") + "\n"));
    // A state dir in the shared /tmp would be hidden by a private one.
    const std::string state = box.state_dir().string();
    const bool in_tmp = state.rfind("/tmp/", 0) == 0 || state.rfind("/var/tmp/", 0) == 0;
    CHECK(contains(out, in_tmp ? "\nPrivateTmp=no\n" : "\nPrivateTmp=yes\n"));
    CHECK(contains(out,
                   "would run: systemctl --user daemon-reload\n"
                   "would run: systemctl --user enable --now telemetry-kit-agent.socket\n"));
    CHECK_FALSE(contains(out, "@TK_"));
    CHECK(contains(out, "nothing was written"));
    CHECK_FALSE(fs::exists(box.unit_dir()));
}

TEST_CASE("tk service install --dry-run prints the launchd plist and launchctl commands") {
    ServiceSandbox box;
    const auto result = box.tk({"service", "install", "--dry-run", "--platform", "launchd", "--agent", agent()});
    REQUIRE(result.exit_code == 0);
    const auto& out = result.out;
    CHECK(contains(out, "would write " + box.plist().string() + ":\n"));
    CHECK(contains(out, "<string>" + agent() + "</string>"));
    CHECK(contains(out, "<key>SockPathName</key>"));
    const std::string uid = std::to_string(::getuid());
    CHECK(contains(out, "would run: launchctl bootout gui/" + uid +
                            "/dev.telemetry-kit.agent\n"
                            "would run: launchctl enable gui/" +
                            uid +
                            "/dev.telemetry-kit.agent\n"
                            "would run: launchctl bootstrap gui/" +
                            uid + " " + box.plist().string() + "\n"));
    CHECK_FALSE(contains(out, "@TK_"));
    CHECK_FALSE(fs::exists(box.plist()));
}

TEST_CASE("tk service install writes units systemd-analyze accepts, then enables the socket") {
    ServiceSandbox box;
    box.fake("systemctl");
    const auto result = box.tk({"service", "install", "--agent", agent()});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const fs::path socket_unit = box.unit_dir() / "telemetry-kit-agent.socket";
    const fs::path service_unit = box.unit_dir() / "telemetry-kit-agent.service";
    CHECK(contains(result.out, "wrote " + socket_unit.string()));
    CHECK(contains(read_file(service_unit), "\nExecStart=" + agent() + "\n"));
    const std::string load =
        "systemctl --user show-environment\n"
        "systemctl --user daemon-reload\n"
        "systemctl --user enable --now telemetry-kit-agent.socket\n"
        "systemctl --user try-restart telemetry-kit-agent.service\n";
    CHECK(box.recorded() == load);

    // The real systemd checks the files as its user manager would load them.
    const auto verify = run_tool({"systemd-analyze", "verify", "--user", socket_unit.string(), service_unit.string()},
                                 {{"XDG_RUNTIME_DIR", box.env.at("XDG_RUNTIME_DIR")},
                                  {"HOME", box.env.at("HOME")},
                                  {"XDG_CONFIG_HOME", box.env.at("XDG_CONFIG_HOME")}});
    INFO(verify.err);
    CHECK(verify.exit_code == 0);
    CHECK(verify.err.empty());  // unknown keys and bad values are only warnings there

    // Again: the same files are left alone, and the commands run again (an upgrade restarts the agent).
    const auto again = box.tk({"service", "install", "--agent", agent()});
    CHECK(again.exit_code == 0);
    CHECK(contains(again.out, "unchanged " + socket_unit.string()));
    CHECK(box.recorded() == load + load);

    // A new socket path: `enable --now` would keep the old listener, so the socket is restarted.
    const fs::path socket = box.dir / "run" / "other dir" / "agent.sock";
    box.env["TELEMETRY_KIT_SOCKET"] = socket.string();
    const auto moved = box.tk({"service", "install", "--agent", agent()});
    INFO(moved.out << moved.err);
    CHECK(moved.exit_code == 0);
    CHECK(contains(moved.out, "updated " + socket_unit.string()));
    CHECK(contains(read_file(socket_unit),
                   "\nListenStream=" + socket.string() + "\n"));  // unquoted: systemd takes it verbatim
    CHECK(box.recorded() == load + load + load + "systemctl --user restart telemetry-kit-agent.socket\n");
}

TEST_CASE("tk service install refuses a socket path systemd cannot listen on") {
    ServiceSandbox box;
    box.fake("systemctl");
    box.env["TELEMETRY_KIT_SOCKET"] = (box.dir / "agent.sock ").string();
    const auto result = box.tk({"service", "install", "--agent", agent()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "TELEMETRY_KIT_SOCKET starts or ends with a blank"));
    CHECK_FALSE(fs::exists(box.unit_dir()));
    CHECK(box.recorded().empty());
}

TEST_CASE("tk service install names a service manager that refuses the units, and does not blame lingering") {
    ServiceSandbox box;
    box.fake("systemctl", "  *enable*) echo 'Failed to enable unit: Unit file is masked.' >&2; exit 1 ;;\n");
    const auto result = box.tk({"service", "install", "--agent", agent()});
    INFO(result.out << result.err);
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "`systemctl --user enable --now telemetry-kit-agent.socket` failed (exit 1)"));
    CHECK(contains(result.err, "journalctl --user -u telemetry-kit-agent.service"));
    CHECK_FALSE(contains(result.err, "not reachable"));
    CHECK_FALSE(contains(result.err, "enable-linger"));
}

TEST_CASE("tk service install finds tk-agent on PATH and carries TELEMETRY_KIT_HOME into the unit") {
    ServiceSandbox box;
    box.fake("systemctl");
    const fs::path home = box.dir / "tk home";
    box.env["TELEMETRY_KIT_HOME"] = home.string();
    box.env["PATH"] = box.fake_bin.string() + ":" + binary("tk-agent").parent_path().string() + ":/usr/bin:/bin";
    const auto result = box.tk({"service", "install"});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const std::string unit = read_file(box.unit_dir() / "telemetry-kit-agent.service");
    CHECK(contains(unit, "\nExecStart=" + agent() + "\n"));
    CHECK(contains(unit, "\nEnvironment=\"TELEMETRY_KIT_HOME=" + home.string() + "\"\n"));
    CHECK(contains(unit, "\nReadWritePaths=\"" + home.string() + "\"\n"));
    CHECK(contains(unit, "\nExecStartPre=+/bin/mkdir -p -m 0700 \"" + home.string() + "\"\n"));
    CHECK_FALSE(contains(unit, "XDG_STATE_HOME"));  // TELEMETRY_KIT_HOME decides the state dir
    // The real systemd parses the quoted path.
    const auto verify =
        run_tool({"systemd-analyze", "verify", "--user", (box.unit_dir() / "telemetry-kit-agent.socket").string(),
                  (box.unit_dir() / "telemetry-kit-agent.service").string()},
                 {{"XDG_RUNTIME_DIR", box.env.at("XDG_RUNTIME_DIR")},
                  {"HOME", box.env.at("HOME")},
                  {"XDG_CONFIG_HOME", box.env.at("XDG_CONFIG_HOME")}});
    INFO(verify.err);
    CHECK(verify.exit_code == 0);
    CHECK(verify.err.empty());
}

TEST_CASE("tk service install without a reachable user manager keeps the files and says what to do") {
    ServiceSandbox box;  // the real systemctl; XDG_RUNTIME_DIR is an empty temp dir, so no manager
    const auto result = box.tk({"service", "install", "--agent", agent()});
    CHECK(result.exit_code == 4);
    CHECK(fs::exists(box.unit_dir() / "telemetry-kit-agent.socket"));
    CHECK(contains(result.err, "`systemctl --user show-environment` failed"));
    CHECK(contains(result.err, "systemd's user manager is not reachable"));
    CHECK(contains(result.err, "loginctl enable-linger"));
    CHECK(contains(result.err, "other supervisor"));

    const auto status = box.tk({"service", "status"});
    CHECK(status.exit_code == 4);
    CHECK(contains(status.out, "installed " + (box.unit_dir() / "telemetry-kit-agent.service").string()));
    CHECK(contains(status.out, "not reachable"));
}

TEST_CASE("tk service install refuses an --agent that is not an executable") {
    ServiceSandbox box;
    const auto result = box.tk({"service", "install", "--agent", (box.dir / "nope").string()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "is not an executable file"));
    CHECK_FALSE(fs::exists(box.unit_dir()));
}

TEST_CASE("tk service status reports what the user manager says") {
    ServiceSandbox box;
    box.fake("systemctl",
             "  *is-enabled*) echo enabled ;;\n"
             "  *is-active*telemetry-kit-agent.socket) echo active ;;\n"
             "  *is-active*telemetry-kit-agent.service) echo inactive; exit 3 ;;\n");
    const auto before = box.tk({"service", "status"});
    CHECK(before.exit_code == 1);
    CHECK(contains(before.out, "not installed"));
    REQUIRE(box.tk({"service", "install", "--agent", agent()}).exit_code == 0);
    const auto status = box.tk({"service", "status"});
    INFO(status.out << status.err);
    CHECK(status.exit_code == 0);
    CHECK(contains(status.out, "socket: enabled, active\n"));
    CHECK(contains(status.out, "agent:  inactive (started by the next connection)\n"));
    CHECK(contains(status.out, "journalctl --user -u telemetry-kit-agent.service"));
}

TEST_CASE("tk service status says how to recover an agent that hit systemd's start limit") {
    ServiceSandbox box;
    box.fake("systemctl",
             "  *is-enabled*) echo enabled ;;\n"
             "  *is-active*) echo failed; exit 3 ;;\n");
    REQUIRE(box.tk({"service", "install", "--agent", agent()}).exit_code == 0);
    const auto status = box.tk({"service", "status"});
    INFO(status.out << status.err);
    CHECK(status.exit_code == 1);
    CHECK(contains(status.out, "socket: enabled, failed\n"));
    CHECK(
        contains(status.out, "systemctl --user reset-failed telemetry-kit-agent.service telemetry-kit-agent.socket\n"));
    CHECK(contains(status.out, "systemctl --user start telemetry-kit-agent.socket\n"));
}

TEST_CASE("tk service install for launchd writes a well-formed plist with the keys launchd needs") {
    ServiceSandbox box;
    box.fake("launchctl", "  bootout*) echo 'Boot-out failed: 3: No such process' >&2; exit 3 ;;\n");
    const auto result = box.tk({"service", "install", "--platform", "launchd", "--agent", agent()});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const std::string uid = std::to_string(::getuid());
    CHECK(box.recorded() == "launchctl print gui/" + uid +
                                "\n"
                                "launchctl bootout gui/" +
                                uid +
                                "/dev.telemetry-kit.agent\n"
                                "launchctl enable gui/" +
                                uid +
                                "/dev.telemetry-kit.agent\n"
                                "launchctl bootstrap gui/" +
                                uid + " " + box.plist().string() + "\n");

    const fs::path plist = box.plist();
    const auto lint = run_tool({"xmllint", "--noout", plist.string()});
    INFO(lint.err);
    CHECK(lint.exit_code == 0);
    const std::string top = "/plist[@version='1.0']/dict/";
    CHECK(plist_value(plist, top + "key[.='Label']/following-sibling::*[1]") == "dev.telemetry-kit.agent");
    CHECK(plist_value(plist, top + "key[.='ProgramArguments']/following-sibling::*[1]/string[1]") == agent());
    const std::string listener =
        top + "key[.='Sockets']/following-sibling::dict[1]/key[.='Listeners']/following-sibling::dict[1]/";
    const fs::path socket = fs::path(box.env.at("XDG_RUNTIME_DIR")) / "telemetry-kit" / "agent.sock";
    CHECK(plist_value(plist, listener + "key[.='SockPathName']/following-sibling::*[1]") == socket.string());
    CHECK(plist_value(plist, listener + "key[.='SockPathMode']/following-sibling::*[1]") == "384");
    // Started on demand only: KeepAlive (which implies RunAtLoad) would start it at every login.
    CHECK(plist_value(plist, "count(" + top + "key[.='KeepAlive' or .='RunAtLoad'])") == "0");
    // launchd makes neither the socket's directory nor the log's: tk does, private.
    struct stat st {};
    REQUIRE(::stat(socket.parent_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("tk service uninstall removes the files and keeps the data, --purge deletes only telemetry-kit's") {
    ServiceSandbox box;
    box.fake("systemctl");
    const fs::path home = box.dir / "tk-home";
    box.env["TELEMETRY_KIT_HOME"] = home.string();
    fs::create_directories(home);
    for (const char* name : {"queue.db", "queue.db-wal", "spool", "sent.log", "notes.txt"}) {
        std::ofstream(home / name) << "x";
    }
    std::ofstream(home / "install-secret") << std::string(32, 's');
    std::ofstream(home / "agent.conf") << "[log]\nlevel = info\n";
    auto tk = [&box](std::vector<std::string> args) { return box.tk(std::move(args)); };
    REQUIRE(tk({"service", "install", "--agent", agent()}).exit_code == 0);

    const auto dry = tk({"service", "uninstall", "--dry-run", "--purge"});
    CHECK(dry.exit_code == 0);
    CHECK(contains(dry.out, "would remove " + (home / "queue.db").string()));
    CHECK(fs::exists(box.unit_dir() / "telemetry-kit-agent.socket"));

    const auto kept = tk({"service", "uninstall"});
    INFO(kept.out << kept.err);
    CHECK(kept.exit_code == 0);
    CHECK_FALSE(fs::exists(box.unit_dir() / "telemetry-kit-agent.socket"));
    CHECK_FALSE(fs::exists(box.unit_dir() / "telemetry-kit-agent.service"));
    CHECK(contains(kept.out, "your data stays in " + home.string()));
    CHECK(fs::exists(home / "queue.db"));
    CHECK(contains(box.recorded(),
                   "systemctl --user disable --now telemetry-kit-agent.socket telemetry-kit-agent.service\n"));

    // A running agent holds the state dir: purge refuses and deletes nothing.
    fs::remove(home / "queue.db");
    fs::remove(home / "queue.db-wal");
    {
        ProcessOptions agent_options;
        agent_options.argv = {agent()};
        agent_options.env = box.env;
        agent_options.env["TELEMETRY_KIT_SOCKET"] = (box.dir / "agent.sock").string();
        agent_options.stderr_file = box.dir / "agent.log";
        ChildProcess running(agent_options);
        REQUIRE(wait_for_unix_socket(box.dir / "agent.sock"));
        const auto refused = tk({"service", "uninstall", "--purge"});
        CHECK(refused.exit_code == 1);
        CHECK(contains(refused.err, "an agent is still running"));
        CHECK(fs::exists(home / "install-secret"));
        CHECK(running.stop() == 0);
    }

    const auto purged = tk({"service", "uninstall", "--purge"});
    INFO(purged.out << purged.err);
    CHECK(purged.exit_code == 0);
    for (const char* name : {"queue.db", "install-secret", "spool", "agent.conf", "sent.log", "agent.lock"}) {
        CHECK_FALSE(fs::exists(home / name));
    }
    CHECK(fs::exists(home / "notes.txt"));  // not ours: kept, and so is the directory
    CHECK(contains(purged.out, "kept " + home.string()));
}
