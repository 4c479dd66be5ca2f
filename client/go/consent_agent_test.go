//go:build linux

package telemetrykit_test

// The consent helper on a real pseudo-terminal against the real agent: the answer is recorded
// where `tk consent` sees it, asked once, never without a terminal, in CI or when opted out.

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	telemetrykit "github.com/telemetry-kit/telemetry-kit/client/go"
)

// terminal is a pseudo-terminal: the helper gets its tty end for reading and writing; the test
// types the answer into the other end and reads what the helper wrote.
type terminal struct{ master, tty *os.File }

func newTerminal(t *testing.T) *terminal {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var unlock, number int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatal(errno)
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&number))); errno != 0 {
		t.Fatal(errno)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(number)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{master, tty}
	t.Cleanup(func() { master.Close(); tty.Close() })
	return term
}

func (term *terminal) typeText(t *testing.T, text string) {
	if _, err := term.master.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// screen returns what the helper wrote so far (and the terminal's echo of what was typed).
func (term *terminal) screen() string {
	fd := int(term.master.Fd())
	syscall.SetNonblock(fd, true)
	defer syscall.SetNonblock(fd, false)
	var out []byte
	chunk := make([]byte, 4096)
	for {
		n, err := syscall.Read(fd, chunk)
		if err != nil || n <= 0 {
			return string(out)
		}
		out = append(out, chunk[:n]...)
	}
}

func (term *terminal) prompt() telemetrykit.ConsentPrompt {
	return telemetrykit.ConsentPrompt{Input: term.tty, Output: term.tty}
}

func status(t *testing.T, tool string) telemetrykit.Consent {
	t.Helper()
	consent, ok := telemetrykit.ConsentStatus(tool, time.Second)
	if !ok {
		t.Fatalf("no consent status for %s", tool)
	}
	return consent
}

func expectOutcome(t *testing.T, got, want telemetrykit.ConsentOutcome) {
	t.Helper()
	if got != want {
		t.Fatalf("outcome %q, want %q", got, want)
	}
}

func TestConsentAskedOnceOnATerminalAndKeptByTheAgent(t *testing.T) {
	a := startAgent(t, newHome(t))
	term := newTerminal(t)
	config := telemetrykit.Config{Tool: "go-consent", Version: "1.0", Endpoint: "https://t.example.com", IngestKey: "key"}
	term.typeText(t, "y\n")
	expectOutcome(t, telemetrykit.AskConsentOnce(config, term.prompt()), telemetrykit.OutcomeGranted)
	screen := term.screen()
	for _, want := range []string{"go-consent would like to collect anonymous usage statistics", "sent to https://t.example.com.", "tk consent deny go-consent"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen %q lacks %q", screen, want)
		}
	}
	if status(t, "go-consent") != telemetrykit.ConsentGranted || !strings.Contains(string(a.tk("consent", "status")), "go-consent") {
		t.Fatal("the grant is not recorded")
	}
	// Answered: not asked again (nothing typed: it would wait for an answer otherwise).
	prompt := term.prompt()
	prompt.AnswerTimeout = 5 * time.Second
	expectOutcome(t, telemetrykit.AskConsentOnce(config, prompt), telemetrykit.OutcomeAlreadyGranted)
	if strings.Contains(term.screen(), "Allow?") {
		t.Fatal("asked again")
	}
}

func TestConsentEnterIsNoAndThePersonsChoiceStands(t *testing.T) {
	startAgent(t, newHome(t))
	term := newTerminal(t)
	config := telemetrykit.Config{Tool: "go-no", Version: "1.0"}
	term.typeText(t, "\n")
	expectOutcome(t, telemetrykit.AskConsentOnce(config, term.prompt()), telemetrykit.OutcomeDenied)
	if status(t, "go-no") != telemetrykit.ConsentDenied {
		t.Fatal("the denial is not recorded")
	}
	expectOutcome(t, telemetrykit.AskConsentOnce(config, term.prompt()), telemetrykit.OutcomeAlreadyDenied)
	if telemetrykit.RecordConsent("go-no", true, time.Second) || status(t, "go-no") != telemetrykit.ConsentDenied {
		t.Fatal("a tool overwrote the person's choice")
	}
}

func TestConsentNoAnswerRecordsNothing(t *testing.T) {
	startAgent(t, newHome(t))
	term := newTerminal(t)
	prompt := term.prompt()
	prompt.AnswerTimeout = 200 * time.Millisecond
	expectOutcome(t, telemetrykit.AskConsentOnce(telemetrykit.Config{Tool: "go-silent"}, prompt), telemetrykit.OutcomeNoAnswer)
	if !strings.Contains(term.screen(), "asked again") || status(t, "go-silent") != telemetrykit.ConsentUnset {
		t.Fatal("no answer changed something")
	}
}

func TestConsentNeverAskedWithoutATerminalInCIOrOptedOut(t *testing.T) {
	startAgent(t, newHome(t))
	term := newTerminal(t)
	read, write, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer read.Close()
	defer write.Close()
	piped := term.prompt()
	piped.Input = read
	expectOutcome(t, telemetrykit.AskConsentOnce(telemetrykit.Config{Tool: "go-pipe"}, piped), telemetrykit.OutcomeNotAskedNoTTY)
	expectOutcome(t, telemetrykit.AskConsentOnce(telemetrykit.Config{Tool: "go-opt-out", ConsentMode: telemetrykit.OptOut}, term.prompt()),
		telemetrykit.OutcomeNotAskedOptOutTool)
	t.Setenv("CI", "true")
	expectOutcome(t, telemetrykit.AskConsentOnce(telemetrykit.Config{Tool: "go-ci"}, term.prompt()), telemetrykit.OutcomeNotAskedCI)
	t.Setenv("DO_NOT_TRACK", "1")
	expectOutcome(t, telemetrykit.AskConsentOnce(telemetrykit.Config{Tool: "go-ci"}, term.prompt()), telemetrykit.OutcomeNotAskedOptedOut)
	if screen := term.screen(); screen != "" {
		t.Fatalf("wrote %q", screen)
	}
	for _, tool := range []string{"go-pipe", "go-ci", "go-opt-out"} {
		if status(t, tool) != telemetrykit.ConsentUnset {
			t.Errorf("%s changed", tool)
		}
	}
}

func TestConsentNoAgentNoQuestion(t *testing.T) {
	newHome(t)
	term := newTerminal(t)
	term.typeText(t, "y\n")
	expectOutcome(t, telemetrykit.AskConsentOnce(telemetrykit.Config{Tool: "go-alone"}, term.prompt()), telemetrykit.OutcomeNotAskedNoAgent)
	if strings.Contains(term.screen(), "Allow?") {
		t.Fatal("asked without an agent")
	}
	if _, ok := telemetrykit.ConsentStatus("go-alone", 200*time.Millisecond); ok {
		t.Fatal("a status without an agent")
	}
}

// manifestAgent starts an agent that enforces the manifest with_manifest_collector publishes
// (TK_TEST_MANIFEST_*, set by the ctest entry consent_manifest.go): the tool says Hello with its
// destination, and the agent fetches the manifest from the real collector.
func manifestAgent(t *testing.T) (telemetrykit.Config, string) {
	endpoint, tool := os.Getenv("TK_TEST_MANIFEST_ENDPOINT"), os.Getenv("TK_TEST_MANIFEST_TOOL")
	if endpoint == "" || tool == "" {
		t.Skip("TK_TEST_MANIFEST_* not set (run through ctest: consent_manifest.go)")
	}
	startAgent(t, newHome(t))
	config := telemetrykit.Config{Tool: tool, Version: "1.0", Endpoint: endpoint, IngestKey: os.Getenv("TK_TEST_MANIFEST_KEY")}
	if telemetrykit.ManifestSummary(tool, time.Second) != "" {
		t.Fatal("a manifest before the tool said where it sends")
	}
	client := telemetrykit.New(config)
	client.TrackCommand("build").Record() // the Hello names the destination (the event itself waits for consent)
	client.Flush(5 * time.Second)
	client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for telemetrykit.ManifestSummary(tool, time.Second) == "" {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not fetch the manifest in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return config, os.Getenv("TK_TEST_MANIFEST_SUMMARY")
}

func TestConsentShowsTheManifest(t *testing.T) {
	config, summary := manifestAgent(t)
	if summary == "" || telemetrykit.ManifestSummary(config.Tool, time.Second) != summary {
		t.Fatalf("the agent's summary %q, want the C++ words %q", telemetrykit.ManifestSummary(config.Tool, time.Second), summary)
	}
	term := newTerminal(t)
	prompt := term.prompt()
	prompt.WhatIsCollected = "the tool's own words" // the published manifest wins over them
	term.typeText(t, "y\n")
	expectOutcome(t, telemetrykit.AskConsentOnce(config, prompt), telemetrykit.OutcomeGranted)
	want := config.Tool + " would like to collect anonymous usage statistics: " + summary + ", sent to " + config.Endpoint +
		". Nothing identifies you."
	if screen := term.screen(); !strings.Contains(screen, want) || strings.Contains(screen, "the tool's own words") {
		t.Fatalf("screen %q lacks %q", screen, want)
	}
}
