package telemetrykit

// First-run consent for opt-in tools (the C++ client's telemetry_kit/consent.hpp, in Go): ask the
// person once, on a terminal only, never in CI, never when DO_NOT_TRACK or the tool's own opt-out
// is set, and record the answer with the agent, whose per-tool consent is the record of "asked
// before" (`tk consent grant|deny TOOL` changes it later).
//
// The decisions are pure functions (mayAsk, consentQuestion, isYes); the rest moves bytes.

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"
)

// Consent is a tool's consent as the agent records it.
type Consent int

const (
	ConsentUnset Consent = iota
	ConsentGranted
	ConsentDenied
)

// ConsentOutcome is what AskConsentOnce did; the values are the C++ client's names.
type ConsentOutcome string

const (
	OutcomeGranted            ConsentOutcome = "granted"                // asked now; the person said yes (recorded)
	OutcomeDenied             ConsentOutcome = "denied"                 // asked now; no, or just Enter (recorded)
	OutcomeAlreadyGranted     ConsentOutcome = "already_granted"        // answered before: not asked again
	OutcomeAlreadyDenied      ConsentOutcome = "already_denied"         // answered before (or every tool is off)
	OutcomeNotAskedNoTTY      ConsentOutcome = "not_asked_no_tty"       // the input or the output is not a terminal
	OutcomeNotAskedCI         ConsentOutcome = "not_asked_ci"           // a CI variable is set
	OutcomeNotAskedOptedOut   ConsentOutcome = "not_asked_opted_out"    // DO_NOT_TRACK or <TOOL>_TELEMETRY_DISABLED
	OutcomeNotAskedOptOutTool ConsentOutcome = "not_asked_opt_out_tool" // the tool is opt-out: nothing to ask
	OutcomeNotAskedNoAgent    ConsentOutcome = "not_asked_no_agent"     // no agent to record the answer
	OutcomeNoAnswer           ConsentOutcome = "no_answer"              // no answer in time: asked again next run
)

// ConsentPrompt says where and how long to ask; the zero value asks on stdin/stderr with the
// defaults.
type ConsentPrompt struct {
	Input, Output   *os.File      // must both be terminals (default os.Stdin, os.Stderr)
	WhatIsCollected string        // what is collected, in one sentence (default: command and feature events); the manifest's short form, if the agent enforces one, wins
	AgentTimeout    time.Duration // for each request to the agent (default 1 s)
	AnswerTimeout   time.Duration // how long to wait for the person (default 2 minutes)
}

const defaultWhatIsCollected = "which commands and features you use, how long they take, whether they succeed, and the tool's version"

const (
	consentActionStatus = 0
	consentActionGrant  = 1
	consentActionDeny   = 2
	maxAnswerBytes      = 64
)

// ---- decisions (pure) ----

// mayAsk returns the outcome that forbids asking, or "" if asking is allowed. The opt-outs come
// first: DO_NOT_TRACK wins over everything. lookupVar reads one environment variable.
func mayAsk(tool string, mode ConsentMode, lookupVar func(string) *string, inputIsTTY, outputIsTTY bool) ConsentOutcome {
	if truthy(lookupVar("DO_NOT_TRACK")) || truthy(lookupVar(toolDisabledVariable(tool))) {
		return OutcomeNotAskedOptedOut
	}
	if mode == OptOut {
		return OutcomeNotAskedOptOutTool
	}
	for _, name := range ciVariables {
		if lookupVar(name) != nil {
			return OutcomeNotAskedCI
		}
	}
	if !inputIsTTY || !outputIsTTY {
		return OutcomeNotAskedNoTTY
	}
	return ""
}

// consentQuestion is the question, worded as the C++ client's.
func consentQuestion(config Config, whatIsCollected string) string {
	if whatIsCollected == "" {
		whatIsCollected = defaultWhatIsCollected
	}
	destination := "kept on this machine"
	if config.Endpoint != "" && !config.LocalOnly {
		destination = "sent to " + config.Endpoint
	}
	return fmt.Sprintf("%s would like to collect anonymous usage statistics: %s, %s. Nothing identifies you.\nAllow? [y/N] ",
		config.Tool, whatIsCollected, destination)
}

// isYes: "y" or "yes" in any case, spaces ignored; anything else (Enter included) is no.
func isYes(answer string) bool {
	word := strings.ToLower(strings.Join(strings.Fields(answer), ""))
	return word == "y" || word == "yes"
}

func consentConfirmation(tool string, granted bool) string {
	if granted {
		return "Thank you: usage statistics are on. Change this any time with `tk consent deny " + tool + "`.\n"
	}
	return "Usage statistics are off. Change this any time with `tk consent grant " + tool + "`.\n"
}

// ---- the agent: one control request per connection ----

// consentRequestFrame: framed ClientFrame{control{request_id, consent{action, tool}}} (caller unset: a tool).
func consentRequestFrame(requestID, action uint64, tool string) []byte {
	consent := putUint(nil, 1, action, false)
	consent = putString(consent, 2, tool, true)
	control := putUint(nil, 1, requestID, true)
	control = putBytes(control, 3, consent, true)
	return appendFrame(nil, putBytes(nil, 4, control, true))
}

// decodeConsentReply: the tool's consent from an AgentReply payload; ok is false if it is not a
// successful ControlResponse to requestID or is malformed. Every tool switched off (the global
// consent denied) is denied.
func decodeConsentReply(payload []byte, requestID uint64, tool string) (consent Consent, ok bool) {
	outer, err := fields(payload)
	if err != nil || len(outer) == 0 || outer[0].num != 2 || outer[0].wireType != wireLength {
		return ConsentUnset, false // a FlushAck or an ErrorReply
	}
	control, err := fields(outer[0].bytes)
	if err != nil {
		return ConsentUnset, false
	}
	var answered uint64
	var response []byte
	for _, f := range control {
		switch {
		case f.num == 1 && f.wireType == wireVarint:
			answered = f.varint
		case f.num == 2 && f.wireType == wireLength && len(f.bytes) > 0:
			return ConsentUnset, false // the agent refused
		case f.num == 4 && f.wireType == wireLength:
			response = f.bytes
		}
	}
	entries, err := fields(response)
	if answered != requestID || err != nil {
		return ConsentUnset, false
	}
	for _, f := range entries {
		if f.num == 1 && f.wireType == wireVarint && f.varint == uint64(ConsentDenied) {
			return ConsentDenied, true
		}
		if f.num != 2 || f.wireType != wireLength {
			continue
		}
		entry, err := fields(f.bytes)
		if err != nil {
			return ConsentUnset, false
		}
		name, value := "", uint64(0)
		for _, g := range entry {
			if g.num == 1 && g.wireType == wireLength {
				name = string(g.bytes)
			} else if g.num == 2 && g.wireType == wireVarint {
				value = g.varint
			}
		}
		if name == tool && value <= uint64(ConsentDenied) {
			consent = Consent(value)
		}
	}
	return consent, true
}

// agentRequest sends one framed control request to our own agent and returns the reply's
// payload; ok is false with no agent or no whole answer in time.
func agentRequest(frame []byte, timeout time.Duration) (payload []byte, ok bool) {
	conn, _ := connectTrusted(socketPath(stateDir()))
	if conn == nil {
		return nil, false
	}
	defer conn.Close()
	if conn.SetDeadline(time.Now().Add(timeout)) != nil {
		return nil, false
	}
	if _, err := conn.Write(frame); err != nil {
		return nil, false
	}
	var data []byte
	chunk := make([]byte, 4096)
	for {
		if len(data) >= 4 {
			length := int(binary.BigEndian.Uint32(data))
			if length > maxFrameBytes {
				return nil, false
			}
			if len(data) >= 4+length {
				return data[4 : 4+length], true
			}
		}
		n, err := conn.Read(chunk)
		if err != nil {
			return nil, false
		}
		data = append(data, chunk[:n]...)
	}
}

// consentRequest sends one consent request to our own agent and returns its answer; ok is false
// with no agent, no answer in time, or an error (such as a refused change).
func consentRequest(action uint64, tool string, timeout time.Duration) (Consent, bool) {
	payload, ok := agentRequest(consentRequestFrame(1, action, tool), timeout)
	if !ok {
		return ConsentUnset, false
	}
	return decodeConsentReply(payload, 1, tool)
}

// manifestRequestFrame: framed ClientFrame{control{request_id, manifest{tool}}} (as `tk manifest` asks).
func manifestRequestFrame(requestID uint64, tool string) []byte {
	control := putUint(nil, 1, requestID, true)
	control = putBytes(control, 17, putString(nil, 1, tool, true), true)
	return appendFrame(nil, putBytes(nil, 4, control, true))
}

// decodeManifestSummary: the short form of the tool's manifest (ManifestResponse.summary) from an
// AgentReply payload; "" if the agent enforces none for the tool, refused, or answered something else.
func decodeManifestSummary(payload []byte, requestID uint64) string {
	outer, err := fields(payload)
	if err != nil || len(outer) == 0 || outer[0].num != 2 || outer[0].wireType != wireLength {
		return ""
	}
	control, err := fields(outer[0].bytes)
	if err != nil {
		return ""
	}
	var answered uint64
	var response []byte
	for _, f := range control {
		switch {
		case f.num == 1 && f.wireType == wireVarint:
			answered = f.varint
		case f.num == 2 && f.wireType == wireLength && len(f.bytes) > 0:
			return "" // the agent refused
		case f.num == 17 && f.wireType == wireLength:
			response = f.bytes
		}
	}
	entries, err := fields(response)
	if answered != requestID || err != nil {
		return ""
	}
	known, summary := false, ""
	for _, f := range entries {
		if f.num == 1 && f.wireType == wireVarint {
			known = f.varint != 0
		} else if f.num == 4 && f.wireType == wireLength {
			summary = string(f.bytes)
		}
	}
	if !known {
		return ""
	}
	return summary
}

// ManifestSummary returns the short form of the manifest the agent enforces for tool (what the
// consent prompt shows), or "" if it enforces none or cannot be reached.
func ManifestSummary(tool string, timeout time.Duration) string {
	payload, ok := agentRequest(manifestRequestFrame(1, tool), timeout)
	if !ok {
		return ""
	}
	return decodeManifestSummary(payload, 1)
}

// ConsentStatus returns the tool's consent as the agent records it; ok is false if the agent
// cannot be reached.
func ConsentStatus(tool string, timeout time.Duration) (consent Consent, ok bool) {
	return consentRequest(consentActionStatus, tool, timeout)
}

// RecordConsent records the person's first answer for tool with the agent. False if the agent
// cannot be reached or refuses: a tool records an answer only while the person has not chosen for
// it (and a grant only while not every tool is switched off); changing a choice is `tk consent`'s job.
func RecordConsent(tool string, granted bool, timeout time.Duration) bool {
	action := uint64(consentActionDeny)
	if granted {
		action = consentActionGrant
	}
	_, ok := consentRequest(action, tool, timeout)
	return ok
}

// ---- asking ----

func writeText(f *os.File, text string) { _, _ = f.WriteString(text) }

// AskConsentOnce asks "may <tool> collect anonymous usage statistics? [y/N]" once, on a terminal,
// never in CI, and records the answer with the agent. Call it before New, e.g. in main. It blocks
// only while the person is being asked and never panics into the tool.
func AskConsentOnce(config Config, prompt ConsentPrompt) (outcome ConsentOutcome) {
	defer func() {
		if recover() != nil {
			outcome = OutcomeNotAskedNoAgent
		}
	}()
	in, out := prompt.Input, prompt.Output
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stderr
	}
	agentTimeout, answerTimeout := prompt.AgentTimeout, prompt.AnswerTimeout
	if agentTimeout <= 0 {
		agentTimeout = time.Second
	}
	if answerTimeout <= 0 {
		answerTimeout = 2 * time.Minute
	}
	if refusal := mayAsk(config.Tool, config.ConsentMode, lookup, isTerminal(in), isTerminal(out)); refusal != "" {
		return refusal
	}
	switch current, ok := ConsentStatus(config.Tool, agentTimeout); {
	case !ok:
		return OutcomeNotAskedNoAgent
	case current == ConsentGranted:
		return OutcomeAlreadyGranted
	case current == ConsentDenied:
		return OutcomeAlreadyDenied
	}
	// The tool's published manifest, which the agent enforces, says it best; else the tool's words.
	what := ManifestSummary(config.Tool, agentTimeout)
	if what == "" {
		what = prompt.WhatIsCollected
	}
	writeText(out, consentQuestion(config, what))
	answer, answered := readAnswer(in, answerTimeout)
	if !answered {
		writeText(out, "\nNo answer: nothing is collected; you will be asked again.\n")
		return OutcomeNoAnswer
	}
	granted := isYes(answer)
	if !RecordConsent(config.Tool, granted, agentTimeout) {
		// No agent, or the person chose meanwhile (`tk consent`), whose choice stands.
		writeText(out, "Could not record your answer (the telemetry agent did not respond or already has a choice); nothing changes.\n")
		return OutcomeNotAskedNoAgent
	}
	writeText(out, consentConfirmation(config.Tool, granted))
	if granted {
		return OutcomeGranted
	}
	return OutcomeDenied
}
