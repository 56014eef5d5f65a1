package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// referenceRaw answers LookupRaw's question with encoding/json alone: the
// path is followed through map[string]json.RawMessage (so that duplicate keys
// keep the last value, as in a map), which yields each value's text as it
// stands in doc, without surrounding whitespace.
func referenceRaw(doc []byte, path []string) ([]byte, bool) {
	if !json.Valid(doc) {
		return nil, false
	}
	raw := bytes.Trim(doc, " \t\r\n")
	if raw[0] != '{' {
		return nil, false
	}
	for _, k := range path {
		var rm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rm); err != nil { // not an object
			return nil, false
		}
		r, ok := rm[k] // a nil map (null) has no keys
		if !ok {
			return nil, false
		}
		raw = r
	}
	return raw, true
}

func checkLookupRaw(t testing.TB, doc []byte, path []string) {
	t.Helper()
	want, wantOK := referenceRaw(doc, path)
	got, ok := LookupRaw(doc, path...)
	if ok != wantOK || !bytes.Equal(got, want) {
		t.Fatalf("LookupRaw(%q, %q) = %q, %v; encoding/json gives %q, %v", doc, path, got, ok, want, wantOK)
	}
	if ok && (len(got) == 0 || cap(got) != len(got)) {
		t.Fatalf("LookupRaw(%q, %q) = %q with cap %d", doc, path, got, cap(got))
	}
	// The raw text decodes to the value Lookup renders, and is found exactly
	// when Lookup finds something.
	rendered, lok := Lookup(doc, path...)
	if lok != ok {
		t.Fatalf("LookupRaw(%q, %q) ok %v, Lookup ok %v", doc, path, ok, lok)
	}
	if ok {
		var v any
		dec := json.NewDecoder(bytes.NewReader(got))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("raw %q does not decode: %v", got, err)
		}
		var s string
		switch x := v.(type) {
		case nil:
		case string:
			s = x
		case json.Number:
			s = string(x)
		case bool:
			s = "false"
			if x {
				s = "true"
			}
		default:
			s = string(got)
		}
		if s != rendered {
			t.Fatalf("raw %q of %q decodes to %q, Lookup renders %q", got, path, s, rendered)
		}
	}
}

func checkLookupAllRaw(t testing.TB, doc []byte, paths [][]string) {
	t.Helper()
	raws := make([][]byte, len(paths))
	for i := range raws {
		raws[i] = []byte("stale") // LookupAllRaw must overwrite
	}
	valid := LookupAllRaw(doc, paths, raws)
	if valid != json.Valid(doc) {
		t.Fatalf("LookupAllRaw(%q) valid = %v, json.Valid says %v", doc, valid, !valid)
	}
	for i, p := range paths {
		r, ok := LookupRaw(doc, p...)
		if !bytes.Equal(raws[i], r) || (raws[i] != nil) != ok {
			t.Fatalf("LookupAllRaw(%q) path %q = %q; LookupRaw gives %q, %v", doc, p, raws[i], r, ok)
		}
	}
}

// The JSON type survives in the raw text where the rendering loses it.
var rawCases = []struct {
	doc  string
	path []string
	want string
	ok   bool
}{
	{`{"iat":"1636980973327","exp":300000}`, p("iat"), `"1636980973327"`, true},
	{`{"iat":"1636980973327","exp":300000}`, p("exp"), `300000`, true},
	{`{"a": "x\u0041\/" }`, p("a"), `"x\u0041\/"`, true},
	{`{"a":null}`, p("a"), `null`, true},
	{`{"a":true,"b":false}`, p("b"), `false`, true},
	{`{"a":-1.5e3 }`, p("a"), `-1.5e3`, true},
	{"{\"a\":\n {\"b\" : [1, 2]}\t}", p("a"), `{"b" : [1, 2]}`, true},
	{`{"a":{"b":[1, 2]}}`, p("a.b"), `[1, 2]`, true},
	{`{"a":1,"a":"2"}`, p("a"), `"2"`, true},
	{`{"a":{"b":1},"a":{"c":2}}`, p("a.b"), ``, false},
	{`{"\u0061":1}`, p("a"), `1`, true},
	{` {"a":1} `, nil, `{"a":1}`, true},
	{`{"a":1}x`, p("a"), ``, false},
	{`[{"a":1}]`, p("a"), ``, false},
	{`"a"`, nil, ``, false},
	{`{"a":null}`, p("a.b"), ``, false},
}

func TestLookupRaw(t *testing.T) {
	for _, tc := range rawCases {
		got, ok := LookupRaw([]byte(tc.doc), tc.path...)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("LookupRaw(%q, %q) = %q, %v; want %q, %v", tc.doc, tc.path, got, ok, tc.want, tc.ok)
		}
		checkLookupRaw(t, []byte(tc.doc), tc.path)
	}
	var paths [][]string
	for _, tc := range lookupCases {
		checkLookupRaw(t, []byte(tc.doc), tc.path)
		paths = append(paths, tc.path)
	}
	for _, tc := range lookupCases {
		checkLookupAllRaw(t, []byte(tc.doc), paths)
		checkLookupAllRaw(t, []byte(tc.doc), paths[:3])
		checkLookupAllRaw(t, []byte(tc.doc), nil)
	}
}

func TestLookupRawDeepNesting(t *testing.T) {
	for _, n := range []int{10000, 10001} {
		doc := []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
		raw, ok := LookupRaw(doc, "a", "a")
		if valid := json.Valid(doc); ok != valid {
			t.Errorf("%d nested objects: ok %v, json.Valid %v", n, ok, valid)
		}
		if ok && !bytes.Equal(raw, doc[10:len(doc)-2]) {
			t.Errorf("%d nested objects: raw of a.a is not the inner object", n)
		}
	}
}

func TestLookupAllRawShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	LookupAllRaw([]byte(avarda), globiancePaths, make([][]byte, 1))
}

// LookupRaw and LookupAllRaw (up to 8 paths) allocate nothing.
func TestLookupRawAllocs(t *testing.T) {
	doc := []byte(globiancePayment)
	if n := testing.AllocsPerRun(100, func() { LookupRaw(doc, "payload", "payment", "paymentId") }); n != 0 {
		t.Errorf("LookupRaw: %v allocations, want 0", n)
	}
	raws := make([][]byte, len(globiancePaths))
	if n := testing.AllocsPerRun(100, func() { LookupAllRaw(doc, globiancePaths, raws) }); n != 0 {
		t.Errorf("LookupAllRaw: %v allocations, want 0", n)
	}
	if want := [][]byte{[]byte(`"payment"`), []byte(`"refund success"`), []byte(`"1234567890"`),
		[]byte(`"payment123"`), []byte(`"2023-05-30T12:34:56Z"`)}; !reflect.DeepEqual(raws, want) {
		t.Errorf("LookupAllRaw(globiance) = %q", raws)
	}
}

func FuzzLookupRaw(f *testing.F) {
	for _, tc := range lookupCases {
		f.Add([]byte(tc.doc), strings.Join(tc.path, "."), "a.b")
	}
	for _, tc := range rawCases {
		f.Add([]byte(tc.doc), strings.Join(tc.path, "."), "exp")
	}
	f.Fuzz(func(t *testing.T, doc []byte, a, b string) {
		checkLookupRaw(t, doc, Split(a))
		paths := append([][]string{Split(a), Split(b)}, pathsOf(doc, 12)...) // more than 8: heap state
		for _, p := range paths[2:] {
			checkLookupRaw(t, doc, p)
		}
		checkLookupAllRaw(t, doc, paths)
		checkLookupAllRaw(t, doc, paths[:2])
	})
}
