package dedupe

import (
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
)

// The encoding of an Answer, shared by every store (a Redis store keeps it
// across Caddy upgrades, hence the version byte):
//
//	version   1 byte, answerVersion
//	status    uvarint, 100..999
//	pairs     uvarint, the number of (name, value) header pairs
//	pairs     name, value: each a uvarint length and the bytes
//	body      uvarint length, then the bytes; the input ends there
//
// Header names are written sorted, values in their order, so that equal
// answers encode to equal bytes.

// answerVersion is the first byte of an encoded answer. A stored answer of
// any other version is malformed: a store error, so the delivery is
// forwarded.
const answerVersion = 2

// errBadAnswer is what DecodeAnswer returns for any input that EncodeAnswer
// did not write: truncated, trailing bytes or an unknown version.
var errBadAnswer = errors.New("dedupe: malformed stored answer")

// EncodeAnswer appends the encoding of a to dst and returns the extended
// slice. a.Status must be 100..999 for DecodeAnswer to take it back.
func EncodeAnswer(dst []byte, a *Answer) []byte {
	dst = append(dst, answerVersion)
	dst = binary.AppendUvarint(dst, uint64(a.Status))
	var stack [16]string
	names := sortedNames(stack[:0], a.Header)
	dst = binary.AppendUvarint(dst, uint64(headerPairs(a.Header)))
	for _, name := range names {
		for _, v := range a.Header[name] {
			dst = appendString(dst, name)
			dst = appendString(dst, v)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(a.Body)))
	return append(dst, a.Body...)
}

// encodedAnswerLen is len(EncodeAnswer(nil, a)), without writing: the store
// sizes an arena record before it writes the answer in place.
func encodedAnswerLen(a *Answer) int {
	n := 1 + uvarintLen(uint64(a.Status)) + uvarintLen(uint64(headerPairs(a.Header)))
	for name, values := range a.Header {
		for _, v := range values {
			n += stringLen(name) + stringLen(v)
		}
	}
	return n + uvarintLen(uint64(len(a.Body))) + len(a.Body)
}

func sortedNames(names []string, h http.Header) []string {
	for name, values := range h {
		if len(values) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func headerPairs(h http.Header) int {
	n := 0
	for _, values := range h {
		n += len(values)
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// DecodeAnswer reads an answer written by EncodeAnswer. The result does not
// alias b. It allocates the Answer, the body, the header map, one backing
// array for the header values and one string for all header text.
func DecodeAnswer(b []byte) (*Answer, error) {
	if len(b) == 0 || b[0] != answerVersion {
		return nil, errBadAnswer
	}
	p := b[1:]
	status, n := binary.Uvarint(p)
	if n <= 0 || status < 100 || status > 999 {
		return nil, errBadAnswer
	}
	p = p[n:]
	pairs, n := binary.Uvarint(p)
	// Each pair takes two bytes at least: this bounds the allocation below
	// by the input's length, whatever the count claims.
	if n <= 0 || pairs > uint64(len(p)-n)/2 {
		return nil, errBadAnswer
	}
	p = p[n:]

	// First pass: validate the pairs and find where the header text ends,
	// so that all header text becomes one string.
	end := 0
	for range 2 * pairs {
		next, _, ok := readString(p, end)
		if !ok {
			return nil, errBadAnswer
		}
		end = next
	}
	bodyLen, n := binary.Uvarint(p[end:])
	if n <= 0 || bodyLen != uint64(len(p)-end-n) {
		return nil, errBadAnswer
	}

	a := &Answer{Status: int(status), Header: make(http.Header, min(pairs, 16))}
	if bodyLen > 0 {
		a.Body = append([]byte(nil), p[end+n:]...)
	}
	if pairs == 0 {
		return a, nil
	}
	text := string(p[:end])
	values := make([]string, pairs)
	off, runStart, runName := 0, 0, ""
	for i := range values {
		var name string
		off, name = stringAt(p, text, off)
		off, values[i] = stringAt(p, text, off)
		switch prev, seen := a.Header[name]; {
		case seen && i > 0 && name == runName:
			// The encoder writes a name's values next to each other: they
			// share the backing array. Capacity stops at the last value, so
			// an append by the caller copies instead of overwriting.
			a.Header[name] = values[runStart : i+1 : i+1]
		case seen:
			a.Header[name] = append(prev, values[i])
		default:
			a.Header[name] = values[i : i+1 : i+1]
			runStart, runName = i, name
		}
	}
	return a, nil
}

// readString validates the length-prefixed string at p[off:] and returns
// where it ends and where its bytes start.
func readString(p []byte, off int) (next, start int, ok bool) {
	x, n := binary.Uvarint(p[off:])
	if n <= 0 {
		return 0, 0, false
	}
	off += n
	if x > uint64(len(p)-off) {
		return 0, 0, false
	}
	return off + int(x), off, true
}

// stringAt returns a string that the first pass validated, sliced out of
// text (the header section of p as one string).
func stringAt(p []byte, text string, off int) (int, string) {
	next, start, _ := readString(p, off)
	return next, text[start:next]
}
