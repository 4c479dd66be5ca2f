package telemetrykit

// The few protobuf messages the client writes and reads, encoded by hand: the field numbers of
// proto/telemetry_kit/v1/{event,agent}.proto, byte for byte the C++ client's encoding
// (client/src/wire.cpp).

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
)

const (
	kindCommand = 1
	kindFeature = 2
	kindCustom  = 3

	maxFrameBytes = 1 << 20
	wireVarint    = 0
	wireFixed64   = 1
	wireLength    = 2
	wireFixed32   = 5
)

func putVarint(out []byte, v uint64) []byte {
	for v >= 0x80 {
		out = append(out, byte(v)|0x80)
		v >>= 7
	}
	return append(out, byte(v))
}

func putTag(out []byte, field, wireType uint64) []byte { return putVarint(out, field<<3|wireType) }

// putUint writes a proto3 scalar; a default value only where the field has presence (always).
func putUint(out []byte, field, v uint64, always bool) []byte {
	if v == 0 && !always {
		return out
	}
	return putVarint(putTag(out, field, wireVarint), v)
}

func putBytes(out []byte, field uint64, data []byte, always bool) []byte {
	if len(data) == 0 && !always {
		return out
	}
	out = putVarint(putTag(out, field, wireLength), uint64(len(data)))
	return append(out, data...)
}

func putString(out []byte, field uint64, s string, always bool) []byte {
	if len(s) == 0 && !always {
		return out
	}
	out = putVarint(putTag(out, field, wireLength), uint64(len(s)))
	return append(out, s...)
}

func putAttribute(out []byte, a Attr) []byte {
	// AttributeValue is a oneof: the chosen field is written even when it holds a default value.
	var value []byte
	switch a.kind {
	case attrString:
		value = putString(value, 1, a.s, true)
	case attrInt:
		value = putUint(value, 2, uint64(a.i), true)
	case attrFloat:
		value = putTag(value, 3, wireFixed64)
		value = binary.LittleEndian.AppendUint64(value, math.Float64bits(a.f))
	case attrBool:
		b := uint64(0)
		if a.b {
			b = 1
		}
		value = putUint(value, 4, b, true)
	}
	entry := putString(nil, 1, a.Key, false)
	entry = putBytes(entry, 2, value, true)
	return putBytes(out, 7, entry, true)
}

type eventFields struct {
	id          [16]byte
	tool        string
	toolVersion string
	kind        uint64
	name        string
	timestampMs int64
	attrs       []Attr
	success     *bool
	durationUs  *int64
	exitCode    *int32
}

func encodeEvent(e *eventFields) []byte {
	out := make([]byte, 0, 64+len(e.name)+24*len(e.attrs))
	out = putBytes(out, 1, e.id[:], false)
	out = putString(out, 2, e.tool, false)
	out = putString(out, 3, e.toolVersion, false)
	out = putUint(out, 4, e.kind, false)
	out = putString(out, 5, e.name, false)
	out = putUint(out, 6, uint64(e.timestampMs), false)
	for _, a := range e.attrs {
		out = putAttribute(out, a)
	}
	// `optional` fields: written whenever set, even to a default value.
	if e.success != nil {
		b := uint64(0)
		if *e.success {
			b = 1
		}
		out = putUint(out, 8, b, true)
	}
	if e.durationUs != nil {
		out = putUint(out, 9, uint64(*e.durationUs), true)
	}
	if e.exitCode != nil {
		out = putUint(out, 10, uint64(int64(*e.exitCode)), true) // int32: sign-extended to 64 bits
	}
	return out
}

func boolUint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func encodeToolIdentity(c *Config) []byte {
	var out []byte
	out = putString(out, 1, c.Tool, false)
	out = putString(out, 2, c.Version, false)
	out = putString(out, 3, c.Endpoint, false)
	out = putString(out, 4, c.IngestKey, false)
	out = putUint(out, 5, boolUint(c.ConsentMode == OptOut), false)
	out = putUint(out, 6, boolUint(c.AllowCI), false)
	out = putUint(out, 7, boolUint(c.LocalOnly), false)
	out = putUint(out, 16, boolUint(c.ManifestRequired), false)
	return out
}

// encodeSignals: OptOutSignals, the raw values (nil = unset) and the names of the CI variables set.
func encodeSignals(doNotTrack, toolDisabled *string, ci []string) []byte {
	var out []byte
	if doNotTrack != nil {
		out = putString(out, 1, *doNotTrack, false)
	}
	if toolDisabled != nil {
		out = putString(out, 2, *toolDisabled, false)
	}
	for _, marker := range ci {
		out = putString(out, 3, marker, true)
	}
	out = putUint(out, 4, boolUint(doNotTrack != nil), false)
	out = putUint(out, 5, boolUint(toolDisabled != nil), false)
	return out
}

func appendFrame(out, payload []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(payload)))
	return append(out, payload...)
}

func helloFrame(identity, signals []byte) []byte {
	hello := putUint(nil, 1, 1, false)
	hello = putBytes(hello, 2, identity, true)
	hello = putBytes(hello, 3, signals, true)
	return appendFrame(nil, putBytes(nil, 1, hello, true))
}

func appendEventFrame(out, event []byte) []byte {
	head := putVarint(putTag(make([]byte, 0, 6), 2, wireLength), uint64(len(event)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(head)+len(event)))
	return append(append(out, head...), event...)
}

func appendFlushFrame(out []byte, requestID uint64, deadlineMs uint32) []byte {
	flush := putUint(nil, 1, requestID, false)
	flush = putUint(flush, 2, uint64(deadlineMs), false)
	return appendFrame(out, putBytes(nil, 3, flush, true))
}

func spoolPrefix(identity, signals []byte) []byte {
	return putBytes(putBytes(nil, 1, identity, true), 2, signals, true)
}

// appendSpoolRecord: "TKS1", length, CRC-32 (of the 4 length bytes, then the payload), payload.
func appendSpoolRecord(out, prefix, event []byte) []byte {
	payload := putBytes(append(make([]byte, 0, len(prefix)+len(event)+6), prefix...), 3, event, true)
	var length [4]byte
	binary.BigEndian.PutUint32(length[:], uint32(len(payload)))
	crc := crc32.Update(crc32.ChecksumIEEE(length[:]), crc32.IEEETable, payload)
	out = append(append(out, "TKS1"...), length[:]...)
	out = binary.BigEndian.AppendUint32(out, crc)
	return append(out, payload...)
}

var errMalformed = errors.New("malformed reply")

type field struct {
	num, wireType uint64
	varint        uint64
	bytes         []byte
}

func readVarint(data []byte, pos *int) (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if *pos >= len(data) {
			return 0, errMalformed
		}
		b := data[*pos]
		*pos++
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errMalformed
}

// fields parses one protobuf message into its fields.
func fields(data []byte) ([]field, error) {
	var out []field
	pos := 0
	for pos < len(data) {
		key, err := readVarint(data, &pos)
		if err != nil || key>>3 == 0 {
			return nil, errMalformed
		}
		f := field{num: key >> 3, wireType: key & 7}
		switch f.wireType {
		case wireVarint:
			if f.varint, err = readVarint(data, &pos); err != nil {
				return nil, err
			}
		case wireLength, wireFixed64, wireFixed32:
			size := uint64(8)
			if f.wireType == wireFixed32 {
				size = 4
			} else if f.wireType == wireLength {
				if size, err = readVarint(data, &pos); err != nil {
					return nil, err
				}
			}
			if size > uint64(len(data)-pos) {
				return nil, errMalformed
			}
			f.bytes = data[pos : pos+int(size)]
			pos += int(size)
		default:
			return nil, errMalformed
		}
		out = append(out, f)
	}
	return out, nil
}

const (
	replyOther = iota
	replyFlushAck
	replyError
)

// decodeReply reduces an AgentReply to what the client uses: a FlushAck's request id, an error.
func decodeReply(payload []byte) (kind int, requestID uint64, err error) {
	outer, err := fields(payload)
	if err != nil {
		return 0, 0, err
	}
	kind = replyOther
	for _, f := range outer {
		if f.wireType != wireLength || (f.num != 1 && f.num != 3) {
			continue
		}
		inner, err := fields(f.bytes)
		if err != nil {
			return 0, 0, err
		}
		if f.num == 3 {
			kind = replyError
			continue
		}
		kind, requestID = replyFlushAck, 0
		for _, g := range inner {
			if g.num == 1 && g.wireType == wireVarint {
				requestID = g.varint
			}
		}
	}
	return kind, requestID, nil
}
