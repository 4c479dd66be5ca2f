#pragma once
/// The agent's side of running under a service manager: adopting a socket-activated listener
/// (systemd's LISTEN_FDS protocol, or launchd's launch_activate_socket) and telling systemd how
/// it is doing (the sd_notify protocol: READY=1, STOPPING=1, STATUS=...).
///
/// sd_notify is written by hand rather than taken from libsystemd: the protocol is one datagram
/// on a Unix socket, stable for a decade, and the agent must also build on macOS, where there is
/// no libsystemd. Every notify function is a no-op when $NOTIFY_SOCKET is unset (the agent was
/// not started by systemd with Type=notify), never throws, and ignores errors: a service manager
/// that cannot be told is no reason to fail.

#include <string_view>

namespace tk::agent {

/// The listening socket the service manager handed over, or -1 if the agent was started directly
/// (then it binds the socket itself). The descriptor is made close-on-exec.
///  - Linux and others: systemd's protocol — $LISTEN_PID is our pid and $LISTEN_FDS is 1; the
///    listener is fd 3 (SD_LISTEN_FDS_START). The variables are unset so no child inherits them.
///    LISTEN_FDS=0 counts as not activated.
///  - macOS: launch_activate_socket("Listeners") — the plist names its socket "Listeners"; any
///    further descriptors launchd passes are closed.
/// Throws std::runtime_error (a start-up failure) if LISTEN_FDS is not a number or more than 1,
/// or if the handed-over descriptor is not a listening AF_UNIX stream socket (SO_TYPE, the
/// address family and, on Linux, SO_ACCEPTCONN are checked).
int activated_listener();

/// Sends one sd_notify message (e.g. "READY=1") to $NOTIFY_SOCKET. True if it was sent;
/// false if $NOTIFY_SOCKET is unset or unusable or sending failed.
bool notify(std::string_view message) noexcept;

/// "READY=1": the agent accepts connections (sent after the spool import). Type=notify units
/// count the service as started only now.
void notify_ready() noexcept;

/// "STOPPING=1": the agent is shutting down (SIGTERM, SIGINT, or an idle exit).
void notify_stopping() noexcept;

/// "STATUS=<text>": a one-line status shown by `systemctl --user status`.
void notify_status(std::string_view status) noexcept;

}  // namespace tk::agent
