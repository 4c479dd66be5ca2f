package telemetrykit

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

type attrKind int

const (
	attrString attrKind = iota
	attrInt
	attrFloat
	attrBool
)

// Attr is one typed attribute of an event.
type Attr struct {
	Key  string
	kind attrKind
	s    string
	i    int64
	f    float64
	b    bool
}

// String, Int, Float and Bool make attributes, for Event.Attrs.
func String(key, value string) Attr        { return Attr{Key: key, kind: attrString, s: value} }
func Int(key string, value int64) Attr     { return Attr{Key: key, kind: attrInt, i: value} }
func Float(key string, value float64) Attr { return Attr{Key: key, kind: attrFloat, f: value} }
func Bool(key string, value bool) Attr     { return Attr{Key: key, kind: attrBool, b: value} }

// Event is an event being built: add attributes and the outcome, then Record it.
type Event struct {
	client     *Client
	kind       uint64
	name       string
	attrs      []Attr
	success    *bool
	durationUs *int64
	exitCode   *int32
	start      time.Time
	recorded   bool
}

func (e *Event) set(a Attr) *Event {
	for i := range e.attrs {
		if e.attrs[i].Key == a.Key {
			e.attrs[i] = a
			return e
		}
	}
	e.attrs = append(e.attrs, a)
	return e
}

// Attrs adds (or replaces) attributes.
func (e *Event) Attrs(attrs ...Attr) *Event {
	for _, a := range attrs {
		e.set(a)
	}
	return e
}
func (e *Event) Str(key, value string) *Event           { return e.set(String(key, value)) }
func (e *Event) Int(key string, value int64) *Event     { return e.set(Int(key, value)) }
func (e *Event) Float(key string, value float64) *Event { return e.set(Float(key, value)) }
func (e *Event) Bool(key string, value bool) *Event     { return e.set(Bool(key, value)) }

// Success sets whether the command succeeded.
func (e *Event) Success(ok bool) *Event { e.success = &ok; return e }

// Duration sets how long the command took.
func (e *Event) Duration(d time.Duration) *Event {
	us := d.Microseconds()
	e.durationUs = &us
	return e
}

// ExitCode sets the command's exit code.
func (e *Event) ExitCode(code int) *Event { c := int32(code); e.exitCode = &c; return e }

// Record records the event; later calls do nothing. Never blocks.
func (e *Event) Record() {
	if e.recorded {
		return
	}
	e.recorded = true
	e.client.submit(e)
}

// StartCommand starts a timed command: End records it with the elapsed time.
//
//	func build() (err error) {
//		cmd := telemetry.StartCommand("build").Str("target", "release")
//		defer cmd.End(&err) // failure if build returns an error or panics
//		...
//	}
func (c *Client) StartCommand(name string) *Event {
	e := c.TrackCommand(name)
	e.start = time.Now()
	return e
}

// End records a command started with StartCommand: its duration, and its outcome unless Success
// was set — failure if *errp is a non-nil error, a non-zero ExitCode was set, or a panic is under
// way (recorded, then the panic goes on). Call it deferred, directly: `defer cmd.End(&err)`.
func (e *Event) End(errp *error) {
	if r := recover(); r != nil {
		e.finish(false)
		panic(r)
	}
	failed := (errp != nil && *errp != nil) || (e.exitCode != nil && *e.exitCode != 0)
	e.finish(!failed)
}

func (e *Event) finish(ok bool) {
	if !e.start.IsZero() && e.durationUs == nil {
		e.Duration(time.Since(e.start))
	}
	if e.success == nil {
		e.Success(ok)
	}
	e.Record()
}

func kindName(kind uint64) string {
	switch kind {
	case kindCommand:
		return "command"
	case kindFeature:
		return "feature"
	}
	return "custom"
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func printDebug(config *Config, id [16]byte, nowMs uint64, e *Event) {
	var b strings.Builder
	hex := fmt.Sprintf("%x", id[:])
	fmt.Fprintf(&b, `{"id":"%s-%s-%s-%s-%s","tool":%s,"tool_version":%s,"kind":"%s","name":%s,"timestamp_unix_ms":%d,"attributes":{`,
		hex[:8], hex[8:12], hex[12:16], hex[16:20], hex[20:], jsonString(config.Tool), jsonString(config.Version),
		kindName(e.kind),
		jsonString(e.name), nowMs)
	for i, a := range e.attrs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonString(a.Key) + ":")
		switch a.kind {
		case attrString:
			b.WriteString(jsonString(a.s))
		case attrInt:
			b.WriteString(strconv.FormatInt(a.i, 10))
		case attrFloat:
			if math.IsInf(a.f, 0) || math.IsNaN(a.f) {
				b.WriteString("null")
			} else {
				b.WriteString(strconv.FormatFloat(a.f, 'g', -1, 64))
			}
		case attrBool:
			b.WriteString(strconv.FormatBool(a.b))
		}
	}
	b.WriteByte('}')
	if e.success != nil {
		b.WriteString(`,"success":` + strconv.FormatBool(*e.success))
	}
	if e.durationUs != nil {
		b.WriteString(`,"duration_us":` + strconv.FormatInt(*e.durationUs, 10))
	}
	if e.exitCode != nil {
		b.WriteString(`,"exit_code":` + strconv.Itoa(int(*e.exitCode)))
	}
	b.WriteString("}\n")
	os.Stderr.WriteString(b.String())
}
