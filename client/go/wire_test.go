package telemetrykit

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, text string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// protocol.md, "Writing a client": the worked example, byte for byte.
func TestTheWorkedExampleByteForByte(t *testing.T) {
	identity := encodeToolIdentity(&Config{Tool: "my-cli", Version: "1.2.0"})
	signals := encodeSignals(nil, nil, nil)
	if got := helloFrame(identity, signals); !bytes.Equal(got, unhex(t, "00000017 0a15 0801 120f 0a066d792d636c69 1205312e322e30 1a00")) {
		t.Fatalf("hello %x", got)
	}
	var id [16]byte
	copy(id[:], unhex(t, "01a236325d0070008000000000000001"))
	success, duration, code := true, int64(1500), int32(0)
	event := encodeEvent(&eventFields{id: id, tool: "my-cli", toolVersion: "1.2.0", kind: kindCommand, name: "build",
		timestampMs: 1796205600000, attrs: []Attr{String("target", "release")}, success: &success, durationUs: &duration, exitCode: &code})
	frames := appendFlushFrame(appendEventFrame(nil, event), 1, 2000)
	want := unhex(t, `0000004f 124d 0a1001a236325d0070008000000000000001 12066d792d636c69 1a05312e322e30 2001
		2a056275696c64 3080bac9b1a334 3a13 0a06746172676574 12090a0772656c65617365 4001 48dc0b 5000
		00000007 1a05 0801 10d00f`)
	if !bytes.Equal(frames, want) {
		t.Fatalf("event+flush\n got %x\nwant %x", frames, want)
	}
	record := appendSpoolRecord(nil, spoolPrefix(identity, signals), event)
	if !bytes.Equal(record[:12], unhex(t, "544b5331 00000062 53b3ca0a")) {
		t.Fatalf("record header %x", record[:12])
	}
}

func TestRepliesDecode(t *testing.T) {
	if kind, id, err := decodeReply(unhex(t, "0a04 0801 1001")); kind != replyFlushAck || id != 1 || err != nil {
		t.Fatal(kind, id, err)
	}
	if kind, _, err := decodeReply(unhex(t, "1a04 0a02 6e6f")); kind != replyError || err != nil {
		t.Fatal(kind, err)
	}
	if _, _, err := decodeReply(unhex(t, "0a05 08")); err == nil {
		t.Fatal("a truncated reply parsed")
	}
}

// ToolIdentity.manifest_required is field 16: a two-byte tag.
func TestManifestRequiredIsField16(t *testing.T) {
	if got := encodeToolIdentity(&Config{Tool: "t", ManifestRequired: true}); !bytes.Equal(got, unhex(t, "0a0174 800101")) {
		t.Fatalf("identity %x", got)
	}
}
