package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The encoding/json benchmarks do what a template resolver would do without
// this package: decode the body into map[string]any with UseNumber and walk.

func BenchmarkLookupAvarda(b *testing.B) {
	doc := []byte(avarda)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Lookup(doc, "purchaseId"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkLookupAvardaEncodingJSON(b *testing.B) {
	doc := []byte(avarda)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := mapLookup(doc, []string{"purchaseId"}); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkLookupAllGlobiance(b *testing.B) {
	doc := []byte(globiancePayment)
	values, found := make([]string, len(globiancePaths)), make([]bool, len(globiancePaths))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if !LookupAll(doc, globiancePaths, values, found) || !found[4] {
			b.Fatal("not found")
		}
	}
}

func BenchmarkLookupAllGlobianceEncodingJSON(b *testing.B) {
	doc := []byte(globiancePayment)
	values, found := make([]string, len(globiancePaths)), make([]bool, len(globiancePaths))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := decodeMap(doc)
		if err != nil {
			b.Fatal(err)
		}
		for i, p := range globiancePaths {
			values[i], found[i] = walk(m, p)
		}
		if !found[4] {
			b.Fatal("not found")
		}
	}
}

func decodeMap(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	err := dec.Decode(&m)
	return m, err
}

func mapLookup(doc []byte, path []string) (string, bool) {
	m, err := decodeMap(doc)
	if err != nil {
		return "", false
	}
	return walk(m, path)
}

func walk(m map[string]any, path []string) (string, bool) {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = mm[k]; !ok {
			return "", false
		}
	}
	s, ok := v.(string)
	return s, ok
}
