package telemetrykit_test

// The Go client against the real agent (and, for the spool, without one): tk-agent and tk from
// the build (TK_AGENT_BINARY, TK_CLI_BINARY, set by the ctest entry), a private home per test.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	telemetrykit "github.com/telemetry-kit/telemetry-kit/client/go"
)

// A helper process: the test binary re-run with TK_GO_HELPER set records events and exits.
func TestMain(m *testing.M) {
	if os.Getenv("TK_GO_HELPER") == "exit" {
		c := telemetrykit.New(telemetrykit.Config{Tool: "go-exit", Version: "1"})
		cmd := c.StartCommand("build").Str("target", "release")
		cmd.End(nil)
		c.Exit(0)
	}
	os.Exit(m.Run())
}

func waitUntil(t *testing.T, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type home struct{ dir, state, socket string }

func newHome(t *testing.T) home {
	dir, err := os.MkdirTemp("", "tk-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := home{dir, filepath.Join(dir, "home"), filepath.Join(dir, "run", "agent.sock")}
	for _, d := range []string{h.state, filepath.Dir(h.socket)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("TELEMETRY_KIT_HOME", h.state)
	t.Setenv("TELEMETRY_KIT_SOCKET", h.socket)
	t.Setenv("HOME", dir)
	for _, name := range []string{"DO_NOT_TRACK", "TELEMETRY_KIT_DEBUG", "CI", "GITHUB_ACTIONS", "BUILD_NUMBER", "RUN_ID"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	return h
}

type agent struct {
	t       *testing.T
	h       home
	process *exec.Cmd
}

func startAgent(t *testing.T, h home) *agent {
	if os.Getenv("TK_AGENT_BINARY") == "" || os.Getenv("TK_CLI_BINARY") == "" {
		t.Skip("TK_AGENT_BINARY/TK_CLI_BINARY not set (run through ctest)")
	}
	a := &agent{t: t, h: h}
	a.start()
	t.Cleanup(a.stop)
	return a
}

func (a *agent) start() {
	log, _ := os.Create(filepath.Join(a.h.dir, "agent.log"))
	a.process = exec.Command(os.Getenv("TK_AGENT_BINARY"), "--socket", a.h.socket, "--home", a.h.state, "--log-level", "warn")
	a.process.Stderr = log
	if err := a.process.Start(); err != nil {
		a.t.Fatal(err)
	}
	waitUntil(a.t, "the agent's socket", func() bool {
		conn, err := net.Dial("unix", a.h.socket)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

func (a *agent) stop() {
	if a.process == nil {
		return
	}
	a.process.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { a.process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		a.process.Process.Kill()
		<-done
	}
	a.process = nil
}

func (a *agent) tk(args ...string) []byte {
	out, err := exec.Command(os.Getenv("TK_CLI_BINARY"), append([]string{"--socket", a.h.socket}, args...)...).Output()
	if err != nil {
		a.t.Fatalf("tk %v: %v", args, err)
	}
	return out
}

type storedEvent struct {
	ID         string                     `json:"id"`
	Kind       string                     `json:"kind"`
	Name       string                     `json:"name"`
	Version    string                     `json:"tool_version"`
	Attributes map[string]map[string]any  `json:"attributes"`
	Success    *bool                      `json:"success"`
	DurationUs string                     `json:"duration_us"`
	ExitCode   *int                       `json:"exit_code"`
	CI         bool                       `json:"ci"`
	Extra      map[string]json.RawMessage `json:"-"`
}

func (a *agent) events(tool string) []storedEvent {
	var reply struct {
		Events []storedEvent `json:"events"`
	}
	if err := json.Unmarshal(a.tk("events", "--tool", tool, "--limit", "50000", "--json"), &reply); err != nil {
		a.t.Fatal(err)
	}
	return reply.Events
}

func (a *agent) waitForEvents(tool string, count int) map[string][]storedEvent {
	var events []storedEvent
	waitUntil(a.t, fmt.Sprintf("%d events of %s", count, tool), func() bool {
		events = a.events(tool)
		return len(events) >= count
	})
	byName := map[string][]storedEvent{}
	for _, e := range events {
		byName[e.Name] = append(byName[e.Name], e)
	}
	return byName
}

func mustAtoi(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

func spoolRecords(t *testing.T, path string) int {
	data, _ := os.ReadFile(path)
	count := 0
	for pos := 0; pos < len(data); count++ {
		if string(data[pos:pos+4]) != "TKS1" {
			t.Fatalf("bad magic at %d", pos)
		}
		pos += 12 + int(uint32(data[pos+4])<<24|uint32(data[pos+5])<<16|uint32(data[pos+6])<<8|uint32(data[pos+7]))
		if pos > len(data) {
			t.Fatal("torn record")
		}
	}
	return count
}

func TestFieldsAndAttributeTypesArriveAsSent(t *testing.T) {
	h := newHome(t)
	a := startAgent(t, h)
	a.tk("consent", "grant", "go-tool")
	c := telemetrykit.New(telemetrykit.Config{Tool: "go-tool", Version: "1.2.3"})
	c.TrackCommand("build").Str("target", "release").Int("jobs", 8).Float("ratio", 0.25).Bool("cached", false).
		Int("offset", -5).Success(false).Duration(1500 * time.Millisecond).ExitCode(2).Record()
	c.TrackFeature("cache.remote").Int("hits", 0).Record()
	c.Track("custom.thing").Record()
	if !c.Flush(5 * time.Second) {
		t.Fatal("flush timed out")
	}
	if got := c.Stats().Delivered; got != 3 {
		t.Fatalf("delivered %d", got)
	}
	c.Close()
	events := a.waitForEvents("go-tool", 3)
	build := events["build"][0]
	id, _ := base64.StdEncoding.DecodeString(build.ID)
	if build.Kind != "EVENT_KIND_COMMAND" || build.Version != "1.2.3" || *build.Success || build.DurationUs != "1500000" ||
		*build.ExitCode != 2 || len(id) != 16 || id[6]>>4 != 7 {
		t.Fatalf("build: %+v", build)
	}
	want := map[string]map[string]any{
		"target": {"string_value": "release"}, "jobs": {"int_value": "8"}, "ratio": {"double_value": 0.25},
		"cached": {"bool_value": false}, "offset": {"int_value": "-5"},
	}
	for key, value := range want {
		if fmt.Sprint(build.Attributes[key]) != fmt.Sprint(value) {
			t.Errorf("%s: %v, want %v", key, build.Attributes[key], value)
		}
	}
	if f := events["cache.remote"][0]; f.Kind != "EVENT_KIND_FEATURE" || fmt.Sprint(f.Attributes["hits"]) != "map[int_value:0]" {
		t.Errorf("feature: %+v", f)
	}
	if e := events["custom.thing"][0]; e.Kind != "EVENT_KIND_CUSTOM" || e.Success != nil {
		t.Errorf("custom: %+v", e)
	}
}

func TestStartCommandRecordsDurationAndOutcome(t *testing.T) {
	h := newHome(t)
	a := startAgent(t, h)
	a.tk("consent", "grant", "go-scope")
	c := telemetrykit.New(telemetrykit.Config{Tool: "go-scope", Version: "1"})
	run := func(name string, fail error) (err error) {
		cmd := c.StartCommand(name)
		defer cmd.End(&err)
		time.Sleep(2 * time.Millisecond) // something to measure, not synchronisation
		return fail
	}
	run("ok", nil)
	run("fails", errors.New("no"))
	func() {
		defer func() { recover() }()
		cmd := c.StartCommand("panics")
		defer cmd.End(nil)
		panic("boom")
	}()
	c.Flush(5 * time.Second)
	events := a.waitForEvents("go-scope", 3)
	if ok := events["ok"][0]; !*ok.Success || mustAtoi(ok.DurationUs) < 2000 {
		t.Errorf("ok: %+v", ok)
	}
	if !(*events["fails"][0].Success == false && *events["panics"][0].Success == false) {
		t.Errorf("fails/panics: %+v %+v", events["fails"], events["panics"])
	}
	c.Close()
}

func TestOptOutsSendNothingAndCreateNothing(t *testing.T) {
	h := newHome(t)
	for _, v := range [][2]string{{"DO_NOT_TRACK", "1"}, {"GO_OFF_TELEMETRY_DISABLED", "true"}} {
		t.Setenv(v[0], v[1])
		c := telemetrykit.New(telemetrykit.Config{Tool: "go-off", Version: "1"})
		c.TrackFeature("x").Record()
		if c.Mode() != telemetrykit.Disabled || !c.Flush(time.Second) || c.Stats().Suppressed != 1 {
			t.Fatalf("%s: mode %s stats %+v", v[0], c.Mode(), c.Stats())
		}
		c.Close()
		os.Unsetenv(v[0])
	}
	t.Setenv("DO_NOT_TRACK", "0")
	if m := telemetrykit.New(telemetrykit.Config{Tool: "go-off", Version: "1"}).Mode(); m != telemetrykit.Sending {
		t.Fatalf("DO_NOT_TRACK=0: %s", m)
	}
	if _, err := os.Stat(filepath.Join(h.state, "spool")); err == nil {
		t.Fatal("a spool file was created")
	}
}

func TestNoAgentSpoolsAndTheAgentImportsEachEventOnce(t *testing.T) {
	h := newHome(t)
	a := startAgent(t, h)
	a.tk("consent", "grant", "go-spool")
	a.stop()
	c := telemetrykit.New(telemetrykit.Config{Tool: "go-spool", Version: "1"})
	for i := 0; i < 20; i++ {
		c.TrackFeature(fmt.Sprintf("f%d", i)).Record()
	}
	c.Close()
	if n := spoolRecords(t, filepath.Join(h.state, "spool")); n != 20 {
		t.Fatalf("%d records spooled", n)
	}
	a.start()
	ids := map[string]bool{}
	for _, list := range a.waitForEvents("go-spool", 20) {
		for _, e := range list {
			ids[e.ID] = true
		}
	}
	if len(ids) != 20 {
		t.Fatalf("%d distinct ids", len(ids))
	}
}

func TestAThousandEventsArriveExactlyOnce(t *testing.T) {
	h := newHome(t)
	a := startAgent(t, h)
	a.tk("consent", "grant", "go-many")
	c := telemetrykit.New(telemetrykit.Config{Tool: "go-many", Version: "1"})
	for i := 0; i < 1000; i++ {
		c.Track("e").Int("i", int64(i)).Record()
	}
	if !c.Flush(10 * time.Second) {
		t.Fatal("flush timed out")
	}
	c.Close()
	var values []int
	for _, e := range a.waitForEvents("go-many", 1000)["e"] {
		v, _ := strconv.Atoi(e.Attributes["i"]["int_value"].(string))
		values = append(values, v)
	}
	sort.Ints(values)
	for i, v := range values {
		if i != v {
			t.Fatalf("values[%d] = %d (of %d)", i, v, len(values))
		}
	}
	if len(values) != 1000 {
		t.Fatalf("%d events", len(values))
	}
}

func TestCloseHandsOverFromAShortProcess(t *testing.T) {
	h := newHome(t)
	a := startAgent(t, h)
	a.tk("consent", "grant", "go-exit")
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), "TK_GO_HELPER=exit")
	if out, err := helper.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v %s", err, out)
	}
	if e := a.waitForEvents("go-exit", 1)["build"][0]; !*e.Success {
		t.Fatalf("%+v", e)
	}
	if _, err := os.Stat(filepath.Join(h.state, "spool")); err == nil {
		t.Fatal("spooled although the agent was up")
	}
}

func TestAStalledListenerDoesNotHoldUpClose(t *testing.T) {
	h := newHome(t)
	listener, err := net.Listen("unix", h.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	started := time.Now()
	c := telemetrykit.New(telemetrykit.Config{Tool: "go-stall", Version: "1"})
	payload := string(make([]byte, 200))
	for i := 0; i < 3000; i++ {
		c.Track("e").Str("payload", payload).Record()
	}
	c.Close()
	if time.Since(started) > 5*time.Second { // liveness only; speed is in bench/clients
		t.Fatal("Close was held up")
	}
	if n := spoolRecords(t, filepath.Join(h.state, "spool")); n != 3000 {
		t.Fatalf("nothing was acknowledged, yet %d of 3000 events were spooled", n)
	}
}

func TestASocketInADirectoryOthersCanWriteIsNeverUsed(t *testing.T) {
	h := newHome(t)
	shared := filepath.Join(h.dir, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777)
	socket := filepath.Join(shared, "agent.sock")
	listener, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if conn, err := listener.Accept(); err == nil {
			conn.Close()
			accepted <- struct{}{}
		}
	}()
	t.Setenv("TELEMETRY_KIT_SOCKET", socket)
	c := telemetrykit.New(telemetrykit.Config{Tool: "go-impostor", Version: "1"})
	c.TrackFeature("x").Record()
	if !c.Flush(5*time.Second) || c.Stats().Spooled != 1 {
		t.Fatalf("stats %+v", c.Stats())
	}
	c.Close()
	select {
	case <-accepted:
		t.Fatal("the client connected to a socket in a directory others can write")
	default:
	}
}
