// Command benchclientgo is the Go side of bench/clients (driven by bench_clients.py):
//
//	benchclientgo none              exits (the baseline: the same binary without telemetry)
//	benchclientgo telemetry         tracks one command, exits (Close hands it over)
//	benchclientgo percall N BYTES   N TrackCommand calls (agent up), then N bare socket writes of
//	                                a BYTES-byte frame; prints JSON (ns per call)
package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	telemetrykit "github.com/telemetry-kit/telemetry-kit/client/go"
)

func percentile(values []int64, p float64) int64 {
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	i := int(float64(len(values)) * p)
	if i >= len(values) {
		i = len(values) - 1
	}
	return values[i]
}

func percall(n, frameBytes int) {
	client := telemetrykit.New(telemetrykit.Config{Tool: "bench-tool", Version: "1.0.0"})
	track := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		client.TrackCommand("build").Str("target", "release").Success(true).Duration(1500 * time.Microsecond).ExitCode(0).Record()
		track = append(track, int64(time.Since(start)))
		if (i+1)%4096 == 0 {
			client.Flush(5 * time.Second) // keep the queue below its bound
		}
	}
	client.Flush(10 * time.Second)
	// The physical limit: a bare Write() of a frame of the same size on a Unix socket whose other
	// end a goroutine drains.
	dir, _ := os.MkdirTemp("", "bench-go-")
	defer os.RemoveAll(dir)
	listener, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		conn, _ := listener.Accept()
		buffer := make([]byte, 1<<16)
		for {
			if _, err := conn.Read(buffer); err != nil {
				break
			}
		}
		close(done)
	}()
	conn, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		panic(err)
	}
	frame := make([]byte, frameBytes)
	write := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		conn.Write(frame)
		write = append(write, int64(time.Since(start)))
	}
	conn.Close()
	<-done
	s := client.Stats()
	fmt.Printf(`{"language":"go","track_p50_ns":%d,"track_p99_ns":%d,"write_p50_ns":%d,"write_p99_ns":%d,"delivered":%d,"spooled":%d,"dropped":%d}`+"\n",
		percentile(track, 0.5), percentile(track, 0.99), percentile(write, 0.5), percentile(write, 0.99), s.Delivered, s.Spooled, s.Dropped)
	client.Close()
}

func main() {
	mode := "none"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "telemetry":
		client := telemetrykit.New(telemetrykit.Config{Tool: "bench-tool", Version: "1.0.0"})
		client.TrackCommand("build").Str("target", "release").Success(true).Duration(1200 * time.Microsecond).Record()
		client.Close()
	case "percall":
		n, _ := strconv.Atoi(os.Args[2])
		bytes, _ := strconv.Atoi(os.Args[3])
		percall(n, bytes)
	}
}
