#!/usr/bin/env bash
# Writes the seed corpora in fuzz/corpus/<target>/ from the readable seeds below: protobuf text
# format turned into wire bytes by protoc --encode (Debian's protobuf-compiler), JSON as is. Run it
# after changing a seed; its output is committed. Crash regressions found by fuzzing are added to
# the corpora by hand (named regress-*), never by this script, which leaves them alone.
set -euo pipefail
cd "$(dirname "$0")"
PROTO_DIR=../proto
encode() {  # encode <message type> <text> -> wire bytes on stdout
  printf '%s' "$2" | protoc -I "$PROTO_DIR" --encode="telemetry_kit.v1.$1" telemetry_kit/v1/agent.proto telemetry_kit/v1/collector.proto
}
frame() {  # frame <file> : prefixes stdin with its 4-byte big-endian length
  local payload; payload=$(mktemp); cat > "$payload"
  local n; n=$(stat -c %s "$payload")
  printf "\\x$(printf %02x $(((n >> 24) & 255)))\\x$(printf %02x $(((n >> 16) & 255)))\\x$(printf %02x $(((n >> 8) & 255)))\\x$(printf %02x $((n & 255)))" > "$1"
  cat "$payload" >> "$1"; rm -f "$payload"
}
ID='id: "\001\223\000\000\000\000\160\000\200\000\000\000\000\000\000\001"'
EVENT="$ID name: \"build\" kind: EVENT_KIND_COMMAND timestamp_unix_ms: 1760000000000 success: true duration_us: 1500 exit_code: 0"
ATTRS='attributes { key: "path" value { string_value: "/home/alice/src/app" } }
attributes { key: "count" value { int_value: 42 } }
attributes { key: "ratio" value { double_value: 0.5 } }
attributes { key: "cached" value { bool_value: true } }
attributes { key: "mail" value { string_value: "alice@example.com from 10.0.0.1" } }'

out=corpus/fuzz_agent_event; mkdir -p "$out"
encode ClientFrame "event { $EVENT }" > "$out/lone-event"
encode ClientFrame "event { $EVENT $ATTRS }" > "$out/lone-event-attributes"
encode ClientFrame "event { $EVENT tool: \"demo\" tool_version: \"2.0\" anonymous_id: \"client-made-up\" ci: true }" > "$out/agent-fields-from-client"
encode ClientFrame "event { $EVENT os: \"plan9\" arch: \"vax\" attributes { key: \"x\" value { string_value: \"ünïcødé ✓\" } } }" > "$out/platform-and-unicode"
encode ClientFrame "hello { protocol_version: 1 tool { tool: \"demo\" version: \"1.0.0\" } }" > "$out/hello"
# Strings the scrubber rewrites, and look-alikes it keeps, so that fuzzing starts at the boundary
# between the as-sent fast path (accept_as_sent) and the scrubbing slow path. Home is /home/alice.
# One rewritten string per event: the fast path declines an event at its first one, so a second
# would hide a rule that broke on the first.
attr() { printf 'attributes { key: "%s" value { string_value: "%s" } } ' "$1" "$2"; }
scrubbed() { encode ClientFrame "event { $EVENT $(attr kept 'plain words') $(attr v "$2") }" > "$out/scrub-$1"; }
scrubbed home '/home/alice/src'
scrubbed home-upper 'cd ~/HOME/ALICE'
scrubbed other-home '/Users/Bob/x'
scrubbed windows-home 'C:\\Users\\carol\\y'
scrubbed email 'bob@example.com'
scrubbed email-plus 'mailto:x.y+z@mail.example.org;'
scrubbed github-token 'ghp_0123456789abcdefghijABCDEFGHIJ012345'
scrubbed npm-token 'npm_abcdefghij0123456789'
scrubbed bearer 'Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0'
scrubbed authorization 'Authorization: Basic dXNlcg=='
scrubbed ipv4 'ping 192.168.1.20 ok'
scrubbed ipv4-glued 'host_10.0.0.1'
scrubbed ipv6 'via fe80::1%eth0'
scrubbed mac 'aa:bb:cc:dd:ee:ff'
scrubbed url-credentials 'https://u:p@w@host/x'
scrubbed private-key '-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----'
scrubbed user 'by Alice'
# Every bound of docs/privacy.md met exactly (name, tool_version, key, value, attribute count):
# one byte or one attribute more and the scrubber cuts, so accept_as_sent must decline.
AT_LIMITS="$ID name: \"$(printf 'n%.0s' {1..128})\" tool_version: \"$(printf 'v%.0s' {1..64})\" kind: EVENT_KIND_COMMAND timestamp_unix_ms: 1760000000000"
encode ClientFrame "event { $AT_LIMITS $(attr "$(printf 'k%.0s' {1..64})" "$(printf 'lorem %.0s' {1..170})four") $(for i in $(seq 10 72); do attr "a$i" x; done) }" > "$out/as-sent-at-limits"
encode ClientFrame "event { $AT_LIMITS $(attr long "$(printf 'lorem %.0s' {1..170})fours") }" > "$out/scrub-value-too-long"
encode ClientFrame "event { $EVENT $(attr a '/srv/data/alicia') $(attr b 'bob@localhost') $(attr c 'ghp_short') $(attr d '1.2.3.4.5') $(attr e '999.1.1.1') $(attr f '12:30:00') $(attr g 'malice') }" > "$out/as-sent-look-alikes"
encode ClientFrame "flush { request_id: 7 deadline_ms: 1000 }" > "$out/flush"
{ encode Event "$EVENT"; encode Event "name: \"second-copy\""; } | { printf '\x12'; f=$(mktemp); cat > "$f"; n=$(stat -c %s "$f"); printf "\\x$(printf %02x "$n")"; cat "$f"; rm -f "$f"; } > "$out/duplicated-field"

out=corpus/fuzz_frame_decoder; mkdir -p "$out"
encode ClientFrame "hello { protocol_version: 1 tool { tool: \"demo\" version: \"1.0.0\" } }" | frame "$out/hello"
{ printf '\x03'; cat "$out/hello"; encode ClientFrame "event { $EVENT $ATTRS }" | frame /dev/stdout; } > "$out/hello-event-chunked"
mv "$out/hello" "$out/hello-whole"; { printf '\x3f'; cat "$out/hello-whole"; } > "$out/hello"; rm -f "$out/hello-whole"
printf '\x07\xff\xff\xff\xff' > "$out/too-large"
printf '\x01\x00\x00\x00\x00\x00\x00\x00\x02\x08\x01' > "$out/empty-then-small"

out=corpus/fuzz_collector_proto; mkdir -p "$out"
encode Batch "events { $EVENT tool: \"demo\" tool_version: \"1.0.0\" anonymous_id: \"0123456789abcdef0123456789abcdef\" $ATTRS }" > "$out/one-event"
encode Batch "events { $EVENT tool: \"demo\" } events { $EVENT tool: \"other\" } events { name: \"no-id\" }" > "$out/mixed"
encode Batch "events { $EVENT tool: \"demo\" os: \"linux\" os_version: \"debian 12\" arch: \"x86_64\" agent_version: \"0.1.0\" attributes { key: \"q\\\"uote\" value { string_value: \"tab\\tnew\\nline\\\\\" } } }" > "$out/escapes-and-platform"

out=corpus/fuzz_collector_json; mkdir -p "$out"
cat > "$out/one-event.json" <<'JSON'
{"events":[{"id":"AZMAAAAAcACAAAAAAAAAAQ==","tool":"demo","toolVersion":"1.0.0","kind":"EVENT_KIND_COMMAND","name":"build","timestampUnixMs":"1760000000000","attributes":{"path":{"stringValue":"~/src"},"n":{"intValue":"42"},"r":{"doubleValue":0.5},"b":{"boolValue":true}},"success":true,"durationUs":"1500","exitCode":0}]}
JSON
cat > "$out/escapes.json" <<'JSON'
{"events":[{"id":"AZMAAAAAcACAAAAAAAAAAQ==","tool":"demo","name":"q\"uote\\ \u0000 \ud83d\ude00","attributes":{"k\n":{"stringValue":"\t"}}}]}
JSON
printf '{"events":[]}' > "$out/empty.json"
echo "corpora written: $(find corpus -type f | wc -l) files"
