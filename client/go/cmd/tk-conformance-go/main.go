// Command tk-conformance-go is the Go client's conformance tool (tests/conformance/SCENARIOS.md):
// `tk-conformance-go <scenario>` records the scenario's events through the public API only and
// prints one JSON line with the client's stats.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	telemetrykit "github.com/telemetry-kit/telemetry-kit/client/go"
)

var scenarios = []string{"fields", "do_not_track", "tool_disabled", "do_not_track_zero", "debug", "spool_import",
	"agent_stalled", "impostor_socket", "ci_tagged", "ci_dropped", "thousand_events"}

func fourEvents(c *telemetrykit.Client) {
	c.TrackCommand("build").Str("target", "release").Int("jobs", 8).Float("ratio", 0.25).Bool("cached", true).
		Str("empty", "").Int("negative", -42).Int("big", 1<<40).
		Success(true).Duration(1500 * time.Microsecond).ExitCode(0).Record()
	c.TrackCommand("test").Success(false).Duration(250 * time.Millisecond).ExitCode(3).Record()
	c.TrackFeature("cache.remote").Bool("hit", false).Int("zero", 0).Record()
	c.Track("custom.thing").Str("text", "h\u00e9llo \u2713 \u65e5\u672c").Float("pi", 3.5).Record()
}

func main() {
	known := false
	if len(os.Args) == 2 {
		for _, s := range scenarios {
			known = known || s == os.Args[1]
		}
	}
	if !known {
		fmt.Fprintf(os.Stderr, "usage: tk-conformance-go <scenario>; scenarios: %s\n", strings.Join(scenarios, ", "))
		os.Exit(2)
	}
	scenario := os.Args[1]
	client := telemetrykit.New(telemetrykit.Config{Tool: "conformance", Version: "1.0.0",
		Endpoint: "http://127.0.0.1:9", IngestKey: "conformance-key", ConsentMode: telemetrykit.OptOut,
		LocalOnly: true, AllowCI: scenario == "ci_tagged"})
	flushed := "null"
	switch scenario {
	case "thousand_events":
		for i := 0; i < 1000; i++ {
			client.TrackFeature("bulk").Int("i", int64(i)).Record()
		}
		flushed = fmt.Sprint(client.Flush(10 * time.Second))
	case "agent_stalled":
		fourEvents(client)
	default:
		fourEvents(client)
		flushed = fmt.Sprint(client.Flush(5 * time.Second))
	}
	s := client.Stats()
	// The last statement's time: the harness measures the client's exit delay from here.
	finished := time.Now().UnixMicro()
	fmt.Printf(`{"client":"go","scenario":"%s","mode":"%s","tracked":%d,"delivered":%d,"spooled":%d,"dropped":%d,"suppressed":%d,"flushed":%s,"finished_unix_us":%d}`+"\n",
		scenario, client.Mode(), s.Tracked, s.Delivered, s.Spooled, s.Dropped, s.Suppressed, flushed, finished)
	client.Close() // hands over what is left (bounded), before the process exits
}
