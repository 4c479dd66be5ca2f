// tk: how a person talks to their telemetry-kit agent. Thin: flags here, commands in commands.cpp.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>

#include "commands.hpp"
#include "service.hpp"
#include "tk/common/paths.hpp"

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    CLI::App app{"tk — talk to your telemetry-kit agent: what it holds, what it sends, and your consent.\n"};
    app.footer(
        "Exit codes: 0 ok; 1 the agent answered with an error (or did not answer); 2 bad command line;\n"
        "3 no agent is running on the socket (tk track: and the spool is not writable); 4 (tk service) the service "
        "manager is not reachable.\n"
        "The socket is --socket, else $TELEMETRY_KIT_SOCKET, else the per-user default (docs/agent.md).");
    app.set_version_flag("--version", std::string(TK_VERSION));
    app.require_subcommand(1);
    app.fallthrough();  // `tk status --socket X` works as well as `tk --socket X status`
    std::string socket;
    app.add_option("--socket", socket, "the agent's Unix socket (default: $TELEMETRY_KIT_SOCKET, else per user)");

    tk::cli::Common common;
    auto add_json = [&common](CLI::App* command) {
        command->add_flag("--json", common.json, "print the agent's reply as JSON (protobuf's JSON mapping)");
    };

    auto* status =
        app.add_subcommand("status", "agent version and uptime, queue, per-tool consent and counts, last sync");
    add_json(status);

    std::string consent_action;
    std::string consent_tool;
    bool consent_all = false;
    auto* consent = app.add_subcommand("consent", "grant, deny or reset consent for a tool (or --all), or show it");
    consent->add_option("action", consent_action, "grant, deny, reset or status")
        ->required()
        ->check(CLI::IsMember({"grant", "deny", "reset", "status"}));
    consent->add_option("tool", consent_tool, "the tool (status: default every tool)");
    consent->add_flag("--all", consent_all,
                      "every tool and the global switch (deny --all turns all telemetry off, for future tools too)");
    add_json(consent);

    std::string events_tool;
    unsigned events_limit = 0;
    auto* events = app.add_subcommand("events", "exactly what is queued to be sent, oldest first");
    events->add_option("--tool", events_tool, "only this tool's events");
    events->add_option("--limit", events_limit, "at most this many (default 1000, at most 50000)");
    add_json(events);

    auto* flush = app.add_subcommand("flush", "commit what the agent has received and ask it to send now");
    add_json(flush);

    std::string forget_tool;
    bool forget_all = false;
    auto* forget = app.add_subcommand(
        "forget", "delete a tool's local data, rotate its anonymous id, and ask its collector to erase the old id");
    forget->add_option("tool", forget_tool, "the tool");
    forget->add_flag("--all", forget_all, "every tool");
    add_json(forget);

    std::string manifest_tool;
    auto* manifest = app.add_subcommand(
        "manifest", "what a tool may collect, in plain words: its published manifest, as this agent enforces it");
    manifest->add_option("tool", manifest_tool, "the tool")->required();
    add_json(manifest);

    tk::cli::TrackOptions track_options;
    auto* track = app.add_subcommand(
        "track",
        "record an event from a shell script (waits until the agent has it; with no agent running, spools it)");
    track->add_option("tool", track_options.tool, "the tool's name")->required();
    track->add_option("event", track_options.event, "the event's name")->required();
    track->add_option("attributes", track_options.attributes,
                      "key=value attributes; integers, decimals and true/false become typed values");
    track->add_option("--tool-version", track_options.version, "the tool's version");
    track->add_option("--kind", track_options.kind, "command, feature or custom (default)")
        ->check(CLI::IsMember({"command", "feature", "custom"}));
    track->add_option("--endpoint", track_options.endpoint, "the tool's collector URL (default: keep local)");
    track->add_option("--ingest-key", track_options.ingest_key, "the tool's ingest key at that collector");
    track->add_flag("--opt-out", track_options.opt_out,
                    "the tool is opt-out (default: opt-in, needs tk consent grant)");
    track->add_flag("--allow-ci", track_options.allow_ci, "keep events from CI runs (tagged ci)");
    track->add_flag("--local-only", track_options.local_only, "never forward this tool's events");
    track->add_option("--timeout-ms", track_options.timeout_ms, "how long to wait for the agent (default 5000)");
    add_json(track);

    tk::cli::ServiceOptions service_options;
    std::string platform;
    auto* service = app.add_subcommand(
        "service", "run the agent as your user service (systemd user units, or a launchd LaunchAgent on macOS)");
    service->require_subcommand(1);
    auto add_service_flags = [&](CLI::App* command, bool writes) {
        command->add_option("--platform", platform, "systemd or launchd (default: this system's)")
            ->check(CLI::IsMember({"systemd", "launchd"}));
        if (writes)
            command->add_flag("--dry-run", service_options.dry_run,
                              "print what would be written and run; change nothing");
    };
    auto* service_install = service->add_subcommand(
        "install",
        "write the unit files (or plist) for you, enable and start them; the agent then starts on the\n"
        "first connection and exits when idle");
    add_service_flags(service_install, true);
    service_install->add_option("--agent", service_options.agent,
                                "the tk-agent to run (default: the one next to tk, else the first on PATH)");
    auto* service_uninstall = service->add_subcommand(
        "uninstall", "stop and disable the service and remove its files; your queued data stays unless --purge");
    add_service_flags(service_uninstall, true);
    service_uninstall->add_flag("--purge", service_options.purge,
                                "also delete the queue, spool, install secret, sent log and config");
    auto* service_status = service->add_subcommand("status", "whether the service is installed, enabled and running");
    add_service_flags(service_status, false);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : tk::cli::kExitUsage;
    }

    if (service->parsed()) {
        if (!platform.empty()) {
            service_options.platform =
                platform == "launchd" ? tk::cli::ServicePlatform::launchd : tk::cli::ServicePlatform::systemd;
        }
        if (service_install->parsed()) return tk::cli::service_install(service_options);
        if (service_uninstall->parsed()) return tk::cli::service_uninstall(service_options);
        return tk::cli::service_status(service_options);
    }
    common.socket = socket.empty() ? tk::resolve_paths().socket : std::filesystem::path(socket);
    if (status->parsed()) return tk::cli::status(common);
    if (consent->parsed()) return tk::cli::consent(common, consent_action, consent_tool, consent_all);
    if (events->parsed()) return tk::cli::events(common, events_tool, events_limit);
    if (flush->parsed()) return tk::cli::flush(common);
    if (forget->parsed()) return tk::cli::forget(common, forget_tool, forget_all);
    if (manifest->parsed()) return tk::cli::manifest(common, manifest_tool);
    if (track->parsed()) return tk::cli::track(common, track_options);
    return tk::cli::kExitUsage;
}
