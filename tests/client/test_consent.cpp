// The first-run consent helper: never without a terminal, never in CI, default No, asks once,
// records the answer with the real agent. Terminals are real pseudo-terminals.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent_support.hpp"
#include "telemetry_kit/consent.hpp"

using namespace tk::test;
using namespace std::chrono_literals;
using telemetry_kit::ConsentOutcome;

namespace {

// A pseudo-terminal: the helper gets the terminal side, the test plays the person.
class Terminal {
public:
    Terminal() {
        master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
        REQUIRE(master_ >= 0);
        REQUIRE(::grantpt(master_) == 0);
        REQUIRE(::unlockpt(master_) == 0);
        terminal_ = ::open(::ptsname(master_), O_RDWR | O_NOCTTY);
        REQUIRE(terminal_ >= 0);
        ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
    }
    ~Terminal() {
        ::close(terminal_);
        ::close(master_);
    }
    int fd() const { return terminal_; }
    void type(const std::string& keys) {
        REQUIRE(::write(master_, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size()));
    }
    // What the helper wrote (and the terminal echoed) so far.
    std::string screen() {
        std::string text;
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(master_, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
        return text;
    }

private:
    int master_ = -1;
    int terminal_ = -1;
};

telemetry_kit::ConsentPromptOptions on(const Terminal& terminal) {
    telemetry_kit::ConsentPromptOptions options;
    options.input_fd = terminal.fd();
    options.output_fd = terminal.fd();
    options.answer_timeout = 10s;
    return options;
}

const telemetry_kit::Config kTool{"my-cli", "1.0.0", "https://telemetry.example.com", "key"};

}  // namespace

TEST_CASE("consent: without a terminal nobody is asked") {
    ClientHome env;
    AgentUnderTest agent(env);
    int in[2], out[2];
    REQUIRE(::pipe(in) == 0);
    REQUIRE(::pipe(out) == 0);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    REQUIRE(::write(in[1], "y\n", 2) == 2);
    telemetry_kit::ConsentPromptOptions options;
    options.input_fd = in[0];
    options.output_fd = out[1];
    CHECK(telemetry_kit::ask_consent_once(kTool, options) == ConsentOutcome::not_asked_no_tty);
    char buffer[256];
    CHECK(::read(out[0], buffer, sizeof buffer) < 0);  // nothing was written
    CHECK(telemetry_kit::consent_status("my-cli") == telemetry_kit::Consent::unset);

    // A terminal on one side only is not enough either.
    Terminal terminal;
    options.output_fd = terminal.fd();
    CHECK(telemetry_kit::ask_consent_once(kTool, options) == ConsentOutcome::not_asked_no_tty);
    CHECK(terminal.screen().empty());
    for (const int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
}

TEST_CASE("consent: never asked in CI, even on a terminal") {
    ClientHome env;
    AgentUnderTest agent(env);
    ScopedEnv ci(GENERATE("CI", "GITHUB_ACTIONS", "BUILDKITE"), "true");
    Terminal terminal;
    terminal.type("y\n");
    CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::not_asked_ci);
    CHECK(terminal.screen().find("Allow?") == std::string::npos);  // at most the echo of the keys: no question
    CHECK(telemetry_kit::consent_status("my-cli") == telemetry_kit::Consent::unset);
}

TEST_CASE("consent: on a terminal, asked once, the answer recorded with the agent") {
    ClientHome env;
    AgentUnderTest agent(env);
    Terminal terminal;
    terminal.type("y\n");
    CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::granted);
    const std::string screen = terminal.screen();
    CHECK(screen.find("my-cli would like to collect anonymous usage statistics") != std::string::npos);
    CHECK(screen.find("sent to https://telemetry.example.com") != std::string::npos);
    CHECK(screen.find("Allow? [y/N]") != std::string::npos);
    CHECK(screen.find("tk consent deny my-cli") != std::string::npos);  // how to change it later
    CHECK(telemetry_kit::consent_status("my-cli") == telemetry_kit::Consent::granted);

    // Asked once: the second run does not ask again.
    terminal.type("n\n");
    CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::already_granted);
    CHECK(terminal.screen().find("Allow?") == std::string::npos);
    CHECK(telemetry_kit::consent_status("my-cli") == telemetry_kit::Consent::granted);
}

TEST_CASE("consent: the default answer is No") {
    ClientHome env;
    AgentUnderTest agent(env);
    Terminal terminal;
    terminal.type(GENERATE(std::string("\n"), std::string("maybe\n"), std::string("N\n")));
    CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::denied);
    CHECK(terminal.screen().find("tk consent grant my-cli") != std::string::npos);
    CHECK(telemetry_kit::consent_status("my-cli") == telemetry_kit::Consent::denied);
    CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::already_denied);
}

TEST_CASE("consent: the library records the first answer only, the person's choice stands") {
    ClientHome env;
    AgentUnderTest agent(env);
    CHECK(telemetry_kit::record_consent("fresh-cli", false));  // the first-run answer
    CHECK(telemetry_kit::consent_status("fresh-cli") == telemetry_kit::Consent::denied);
    CHECK_FALSE(telemetry_kit::record_consent("fresh-cli", true));  // a second one cannot change it
    CHECK(telemetry_kit::consent_status("fresh-cli") == telemetry_kit::Consent::denied);
    agent.grant("my-cli");  // the person, with tk consent
    CHECK_FALSE(telemetry_kit::record_consent("my-cli", false));
    CHECK(telemetry_kit::consent_status("my-cli") == telemetry_kit::Consent::granted);
}

TEST_CASE("consent: not asked when the answer cannot be recorded or is already known") {
    ClientHome env;
    Terminal terminal;
    CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::not_asked_no_agent);
    CHECK(terminal.screen().empty());
    {
        ScopedEnv dnt("DO_NOT_TRACK", "1");
        CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::not_asked_opted_out);
    }
    telemetry_kit::Config opt_out = kTool;
    opt_out.consent_mode = telemetry_kit::ConsentMode::opt_out;
    CHECK(telemetry_kit::ask_consent_once(opt_out, on(terminal)) == ConsentOutcome::not_asked_opt_out_tool);
    CHECK(terminal.screen().empty());
}

TEST_CASE("consent: the opt-outs come first, as in every client") {
    // Several refusals at once: every client names the same one (docs/clients-python-rust-go.md,
    // "The same in every client"): DO_NOT_TRACK or the tool's variable, then an opt-out tool, CI,
    // no terminal. No agent is needed: each refusal comes before the agent is asked.
    ClientHome env;
    Terminal terminal;
    telemetry_kit::Config opt_out = kTool;
    opt_out.consent_mode = telemetry_kit::ConsentMode::opt_out;
    {
        ScopedEnv ci("CI", "true");
        ScopedEnv dnt(GENERATE("DO_NOT_TRACK", "MY_CLI_TELEMETRY_DISABLED"), "1");
        CHECK(telemetry_kit::ask_consent_once(kTool, on(terminal)) == ConsentOutcome::not_asked_opted_out);
        CHECK(telemetry_kit::ask_consent_once(opt_out, on(terminal)) == ConsentOutcome::not_asked_opted_out);
        CHECK(telemetry_kit::ask_consent_once(kTool) == ConsentOutcome::not_asked_opted_out);  // stdin: no terminal
    }
    {
        ScopedEnv ci("CI", "true");
        CHECK(telemetry_kit::ask_consent_once(opt_out, on(terminal)) == ConsentOutcome::not_asked_opt_out_tool);
    }
    CHECK(terminal.screen().empty());
}
