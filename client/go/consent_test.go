package telemetrykit

// The consent helper's decisions and wire messages, without I/O.

import (
	"encoding/hex"
	"strings"
	"testing"
)

func vars(pairs ...string) func(string) *string {
	return func(name string) *string {
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i] == name {
				return &pairs[i+1]
			}
		}
		return nil
	}
}

func TestConsentOptOutsWinOverEverything(t *testing.T) {
	cases := []struct {
		mode          ConsentMode
		env           func(string) *string
		ttyIn, ttyOut bool
		want          ConsentOutcome
	}{
		{OptIn, vars(), true, true, ""},
		{OptIn, vars("DO_NOT_TRACK", "1", "CI", "true"), true, true, OutcomeNotAskedOptedOut},
		{OptOut, vars("MY_CLI_TELEMETRY_DISABLED", "yes"), true, true, OutcomeNotAskedOptedOut},
		{OptIn, vars("DO_NOT_TRACK", "0"), true, true, ""}, // falsy: no opt-out
		{OptOut, vars(), true, true, OutcomeNotAskedOptOutTool},
		{OptIn, vars("GITHUB_ACTIONS", "true"), true, true, OutcomeNotAskedCI},
		{OptIn, vars(), false, true, OutcomeNotAskedNoTTY},
		{OptIn, vars(), true, false, OutcomeNotAskedNoTTY},
	}
	for i, c := range cases {
		if got := mayAsk("my-cli", c.mode, c.env, c.ttyIn, c.ttyOut); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}

func TestConsentQuestionAndAnswers(t *testing.T) {
	config := Config{Tool: "my-cli", Version: "1.0"}
	want := "my-cli would like to collect anonymous usage statistics: which commands and features you use, how long " +
		"they take, whether they succeed, and the tool's version, kept on this machine. Nothing identifies you.\nAllow? [y/N] "
	if got := consentQuestion(config, ""); got != want {
		t.Errorf("question %q", got)
	}
	config.Endpoint = "https://t.example.com"
	if got := consentQuestion(config, "the build targets"); !strings.Contains(got, "statistics: the build targets, sent to https://t.example.com.") {
		t.Errorf("question %q", got)
	}
	config.LocalOnly = true
	if got := consentQuestion(config, ""); !strings.Contains(got, "kept on this machine.") {
		t.Errorf("question %q", got)
	}
	for _, yes := range []string{"y", "Y", "yes", " YES \r", "y e s"} {
		if !isYes(yes) {
			t.Errorf("%q is yes", yes)
		}
	}
	for _, no := range []string{"", "n", "no", "yess", "ok"} {
		if isYes(no) {
			t.Errorf("%q is no", no)
		}
	}
}

func TestConsentWireMessages(t *testing.T) {
	if got := hex.EncodeToString(consentRequestFrame(1, 0, "t")); got != "0000000922070801"+"1a03"+"120174" {
		t.Errorf("request frame %s", got)
	}
	reply := func(id byte, response []byte) []byte {
		control := append([]byte{0x08, id, 0x22, byte(len(response))}, response...)
		return append([]byte{0x12, byte(len(control))}, control...)
	}
	tools, _ := hex.DecodeString("12050a01741001" + "12050a01751002")
	check := func(payload []byte, tool string, want Consent, wantOK bool) {
		t.Helper()
		if got, ok := decodeConsentReply(payload, 1, tool); got != want || ok != wantOK {
			t.Errorf("%s: %v %v, want %v %v", tool, got, ok, want, wantOK)
		}
	}
	check(reply(1, tools), "t", ConsentGranted, true)
	check(reply(1, tools), "u", ConsentDenied, true)
	check(reply(1, tools), "v", ConsentUnset, true)
	check(reply(2, tools), "t", ConsentUnset, false)                                // not the answer to this request
	check(reply(1, append([]byte{0x08, 0x02}, tools...)), "t", ConsentDenied, true) // every tool off
	errorReply, _ := hex.DecodeString("1a040a026e6f")
	check(errorReply, "t", ConsentUnset, false)
}
