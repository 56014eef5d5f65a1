package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// reference answers Lookup's question the slow way the package promises to
// agree with: json.Valid, then a Decoder with UseNumber into any, then the
// path followed through the nested maps. The raw text of an object or array
// comes from the same walk through map[string]json.RawMessage, and is checked
// to decode to the very value the map walk found.
func reference(t testing.TB, doc []byte, path []string) (string, bool) {
	if !json.Valid(doc) {
		return "", false
	}
	v, err := decodeAny(doc)
	if err != nil {
		t.Fatalf("valid document %q does not decode: %v", doc, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return "", false
	}
	raw := json.RawMessage(bytes.Trim(doc, " \t\r\n"))
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[k]; !ok {
			return "", false
		}
		var rm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rm); err != nil {
			t.Fatalf("raw walk of %q: %v", doc, err)
		}
		raw = rm[k]
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	default: // map[string]any or []any
		back, err := decodeAny(raw)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("raw text %q of %q does not decode to %#v (err %v)", raw, doc, v, err)
		}
		return string(raw), true
	}
}

func decodeAny(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// pathsOf lists the key paths of the objects in doc's decoded tree (at most
// limit of them, in a fixed order) so that fuzzing compares found values too,
// not only the easy "absent key" answer a random path almost always gets.
func pathsOf(doc []byte, limit int) [][]string {
	if !json.Valid(doc) {
		return nil
	}
	v, err := decodeAny(doc)
	if err != nil {
		return nil
	}
	var out [][]string
	var walk func(v any, prefix []string)
	walk = func(v any, prefix []string) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(out) >= limit {
				return
			}
			p := append(append([]string(nil), prefix...), k)
			out = append(out, p)
			walk(m[k], p)
		}
	}
	walk(v, nil)
	if len(out) < limit {
		out = append(out, []string{}) // the top-level object itself
	}
	return out
}

func checkLookup(t testing.TB, doc []byte, path []string) {
	t.Helper()
	want, wantOK := reference(t, doc, path)
	got, gotOK := Lookup(doc, path...)
	if got != want || gotOK != wantOK {
		t.Fatalf("Lookup(%q, %q) = %q, %v; encoding/json gives %q, %v", doc, path, got, gotOK, want, wantOK)
	}
}

func checkLookupAll(t testing.TB, doc []byte, paths [][]string) {
	t.Helper()
	values := make([]string, len(paths))
	found := make([]bool, len(paths))
	for i := range values {
		values[i], found[i] = "stale", true // LookupAll must overwrite
	}
	valid := LookupAll(doc, paths, values, found)
	if valid != json.Valid(doc) {
		t.Fatalf("LookupAll(%q) valid = %v, json.Valid says %v", doc, valid, !valid)
	}
	for i, p := range paths {
		v, ok := Lookup(doc, p...)
		if values[i] != v || found[i] != ok {
			t.Fatalf("LookupAll(%q) path %q = %q, %v; Lookup gives %q, %v", doc, p, values[i], found[i], v, ok)
		}
	}
}

func FuzzLookup(f *testing.F) {
	for _, tc := range lookupCases {
		f.Add([]byte(tc.doc), strings.Join(tc.path, "."))
	}
	f.Fuzz(func(t *testing.T, doc []byte, dotted string) {
		checkLookup(t, doc, Split(dotted))
		for _, p := range pathsOf(doc, 32) {
			checkLookup(t, doc, p)
		}
	})
}

func FuzzLookupAll(f *testing.F) {
	for _, tc := range lookupCases {
		f.Add([]byte(tc.doc), strings.Join(tc.path, "."), "a.b", "payload")
	}
	f.Fuzz(func(t *testing.T, doc []byte, a, b, c string) {
		paths := [][]string{Split(a), Split(b), Split(c)}
		paths = append(paths, pathsOf(doc, 12)...) // more than 8: heap state
		checkLookupAll(t, doc, paths)
		checkLookupAll(t, doc, paths[:3])
	})
}
