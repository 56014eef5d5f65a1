package dedupe

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var answerCases = []struct {
	name string
	a    Answer
}{
	{"bare", Answer{Status: 204}},
	{"json", Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"ok":true}`)}},
	{"literal header", Answer{Status: 201, Header: http.Header{"X-Merchant-Ref": {"ord_123"}, "Location": {"/orders/ord_123"}}}},
	{"multi-valued", Answer{Status: 200, Header: http.Header{"Set-Cookie": {"a=1", "b=2", "c=3"}, "Vary": {"Origin", "Accept-Encoding"}}}},
	{"empty value", Answer{Status: 200, Header: http.Header{"X-Empty": {""}}}},
	{"table value under literal name", Answer{Status: 200, Header: http.Header{"X-Cache": {"no-store"}}}},
	{"large body", Answer{Status: 400, Body: bytes.Repeat([]byte("x"), 70000)}},
	{"long header", Answer{Status: 302, Header: http.Header{strings.Repeat("N", 200): {strings.Repeat("v", 5000)}}}},
	{"status bounds low", Answer{Status: 100}},
	{"status bounds high", Answer{Status: 999, Body: []byte{0}}},
}

// sameAnswer compares answers as a replay sees them: a header without
// values and a missing header are alike, and so are nil and empty bodies.
func sameAnswer(a, b *Answer) bool {
	if a.Status != b.Status || !bytes.Equal(a.Body, b.Body) {
		return false
	}
	return reflect.DeepEqual(nonEmpty(a.Header), nonEmpty(b.Header))
}

func nonEmpty(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

func TestAnswerRoundTrip(t *testing.T) {
	for _, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			b := EncodeAnswer([]byte("prefix"), &tc.a)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("EncodeAnswer did not append to dst")
			}
			b = b[len("prefix"):]
			if n := encodedAnswerLen(&tc.a); n != len(b) {
				t.Fatalf("encodedAnswerLen = %d, encoding has %d bytes", n, len(b))
			}
			got, err := DecodeAnswer(b)
			if err != nil {
				t.Fatal(err)
			}
			if !sameAnswer(got, &tc.a) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.a)
			}
			if again := EncodeAnswer(nil, got); !bytes.Equal(again, b) {
				t.Fatal("re-encoding the decoded answer gives other bytes")
			}
		})
	}
}

func TestAnswerEncodingIsCompact(t *testing.T) {
	a := &Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte("{}")}
	// version, status (2), pairs, name ref, value ref, body length, body
	if b := EncodeAnswer(nil, a); len(b) != 9 {
		t.Fatalf("encoding of %+v is %d bytes (%x), want 9", a, len(b), b)
	}
}

func TestAnswerEncodingIsDeterministic(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"} {
		h[k] = []string{k}
	}
	a := &Answer{Status: 200, Header: h}
	first := EncodeAnswer(nil, a)
	for range 20 {
		if !bytes.Equal(EncodeAnswer(nil, a), first) {
			t.Fatal("equal answers encoded to different bytes")
		}
	}
}

func TestDecodeAnswerDoesNotAlias(t *testing.T) {
	a := &Answer{Status: 200, Header: http.Header{"X-A": {"1", "2"}, "X-B": {"3"}}, Body: []byte("body")}
	b := EncodeAnswer(nil, a)
	got, err := DecodeAnswer(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	got.Header["X-A"] = append(got.Header["X-A"], "appended")
	if !bytes.Equal(got.Body, []byte("body")) || got.Header.Get("X-B") != "3" || len(got.Header["X-A"]) != 3 {
		t.Fatalf("decoded answer changed with its input or a neighbour's append: %+v", got)
	}
}

func TestDecodeAnswerRejects(t *testing.T) {
	valid := EncodeAnswer(nil, &Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "X-Id": {"abc"}}, Body: []byte("hello")})
	cases := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{2}, valid[1:]...),
		"trailing byte": append(append([]byte(nil), valid...), 0),
		"status 99":     {answerVersion, 99, 0, 0},
		"status 1000":   binary.AppendUvarint([]byte{answerVersion}, 1000),
		"huge pairs":    {answerVersion, 0xc8, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f},
		// Name refs index the names table, which is shorter than the
		// values table: a value-sized index must not slip through.
		"name index": {answerVersion, 0xc8, 0x01, 1, byte(2*(len(headerValues)-1) + 1), 1, 0},
		"value index": binary.AppendUvarint([]byte{answerVersion, 0xc8, 0x01, 1, 1},
			uint64(2*len(headerValues)+1)),
		"varint overflow": {answerVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for i := range valid {
		cases["truncated to "+strconv.Itoa(i)] = valid[:i]
	}
	for name, b := range cases {
		if a, err := DecodeAnswer(b); err == nil {
			t.Errorf("%s: DecodeAnswer(%x) = %+v, want an error", name, b, a)
		}
	}
}

func FuzzDecodeAnswer(f *testing.F) {
	for _, tc := range answerCases {
		if len(tc.a.Body) < 1000 {
			f.Add(EncodeAnswer(nil, &tc.a))
		}
	}
	f.Add([]byte{answerVersion, 0xc8, 0x01, 2, 3, 5, 3, 6, 0})
	f.Add([]byte{answerVersion, 0xc8, 0x01, 1, 4, 'X', '-', 'a', 2, 'v', 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAnswer(b)
		if err != nil {
			return
		}
		enc := EncodeAnswer(nil, a)
		if len(enc) != encodedAnswerLen(a) {
			t.Fatalf("encodedAnswerLen = %d, encoding has %d bytes", encodedAnswerLen(a), len(enc))
		}
		again, err := DecodeAnswer(enc)
		if err != nil {
			t.Fatalf("re-encoded answer does not decode: %v", err)
		}
		if !sameAnswer(again, a) {
			t.Fatalf("round trip changed the answer: %+v then %+v", a, again)
		}
	})
}
