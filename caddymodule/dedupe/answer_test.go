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

func TestAnswerEncodingLayout(t *testing.T) {
	a := &Answer{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("{}")}
	want := []byte{answerVersion, 0xc8, 0x01, 1, 12}
	want = append(want, "Content-Type"...)
	want = append(want, 10)
	want = append(want, "text/plain"...)
	want = append(want, 2, '{', '}')
	if b := EncodeAnswer(nil, a); !bytes.Equal(b, want) {
		t.Fatalf("encoding of %+v is %x, want %x", a, b, want)
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
		"empty":              nil,
		"version 1":          append([]byte{1}, valid[1:]...),
		"trailing byte":      append(append([]byte(nil), valid...), 0),
		"status 99":          {answerVersion, 99, 0, 0},
		"status 1000":        binary.AppendUvarint([]byte{answerVersion}, 1000),
		"huge pairs":         {answerVersion, 0xc8, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"name past the end":  {answerVersion, 0xc8, 0x01, 1, 9, 'X', 0},
		"value past the end": {answerVersion, 0xc8, 0x01, 1, 1, 'X', 5, 'v', 0},
		"varint overflow":    {answerVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
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
	f.Add([]byte{answerVersion, 0xc8, 0x01, 2, 1, 'A', 0, 1, 'A', 1, 'b', 0})
	f.Add([]byte{answerVersion, 0xc8, 0x01, 1, 3, 'X', '-', 'a', 1, 'v', 3, 'a', 'b', 'c'})
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
