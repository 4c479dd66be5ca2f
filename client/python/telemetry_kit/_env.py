"""What the client reads from its process: opt-out signals, debug mode and the per-user paths.
Read once, when a Client is made (never at import)."""

import os
import sys

# The environment variables whose presence marks a CI run (common/include/tk/common/ci.hpp).
CI_VARIABLES = (
    "CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS", "GITLAB_CI",
    "CIRCLECI", "TRAVIS", "JENKINS_URL", "BUILDKITE", "TEAMCITY_VERSION", "TF_BUILD", "APPVEYOR",
    "CODEBUILD_BUILD_ID", "BITBUCKET_BUILD_NUMBER", "DRONE", "SEMAPHORE", "HEROKU_TEST_RUN_ID",
)

# sockaddr_un.sun_path, the terminating NUL included.
MAX_SOCKET_PATH_BYTES = 104 if sys.platform == "darwin" else 108


def tool_disabled_variable(tool):
    """`my-cli` -> `MY_CLI_TELEMETRY_DISABLED`: A-Z and 0-9 kept (upper-cased), the rest `_`."""
    name = "".join(c.upper() if c.isascii() and c.isalnum() else "_" for c in tool)
    return name + "_TELEMETRY_DISABLED"


def truthy(value):
    """Set and not empty, `0` or `false` (any case): the opt-out switches' rule."""
    return bool(value) and value != "0" and value.lower() != "false"


def signals(tool, environ=None):
    """(DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED, CI markers): raw values, None when unset."""
    env = os.environ if environ is None else environ
    ci = [name for name in CI_VARIABLES if name in env]
    return env.get("DO_NOT_TRACK"), env.get(tool_disabled_variable(tool)), ci


def debug_requested(environ=None):
    env = os.environ if environ is None else environ
    return truthy(env.get("TELEMETRY_KIT_DEBUG"))


def _home(env):
    home = env.get("HOME")
    if home:
        return home
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError):
        return "/tmp/telemetry-kit-home-%d" % os.getuid()


def state_dir(environ=None):
    """TELEMETRY_KIT_HOME, else $XDG_STATE_HOME/telemetry-kit (~/.local/state/...); macOS:
    ~/Library/Application Support/telemetry-kit. The same rule as common/src/paths.cpp."""
    env = os.environ if environ is None else environ
    if env.get("TELEMETRY_KIT_HOME"):
        return env["TELEMETRY_KIT_HOME"]
    if sys.platform == "darwin":
        return os.path.join(_home(env), "Library", "Application Support", "telemetry-kit")
    if env.get("XDG_STATE_HOME"):
        return os.path.join(env["XDG_STATE_HOME"], "telemetry-kit")
    return os.path.join(_home(env), ".local", "state", "telemetry-kit")


def socket_path(state, environ=None):
    """TELEMETRY_KIT_SOCKET, else $XDG_RUNTIME_DIR/telemetry-kit/agent.sock, else agent.sock in
    the state dir, else (too long for sockaddr_un) /tmp/telemetry-kit-<uid>/agent.sock."""
    env = os.environ if environ is None else environ
    if env.get("TELEMETRY_KIT_SOCKET"):
        return env["TELEMETRY_KIT_SOCKET"]
    if env.get("XDG_RUNTIME_DIR"):
        return os.path.join(env["XDG_RUNTIME_DIR"], "telemetry-kit", "agent.sock")
    in_state = os.path.join(state, "agent.sock")
    if len(os.fsencode(in_state)) < MAX_SOCKET_PATH_BYTES:
        return in_state
    return "/tmp/telemetry-kit-%d/agent.sock" % os.getuid()
