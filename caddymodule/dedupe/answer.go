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
//	pairs     name ref, value ref, repeated
//	body      uvarint length, then the bytes; the input ends there
//
// A ref is a uvarint x: an even x is a literal of x/2 bytes that follows, an
// odd x is entry (x-1)/2 of a static table (headerNames for names,
// headerValues for values). The tables spare the bytes of the few headers
// nearly every answer has ("Content-Type: application/json" takes 2 bytes):
// with a million answers kept in memory, that is tens of megabytes.
//
// Header names are written sorted, values in their order, so that equal
// answers encode to equal bytes.

// answerVersion is the first byte of an encoded answer. The tables below are
// part of version 1: entries may be appended, never reordered or removed.
const answerVersion = 1

var headerNames = [...]string{
	"Content-Type", "Location", "Cache-Control", "Content-Encoding", "Content-Language",
	"Content-Disposition", "Etag", "Last-Modified", "Vary", "Link", "Set-Cookie",
	"Retry-After", "Expires", "Pragma", "X-Request-Id", "X-Content-Type-Options",
	"X-Frame-Options", "Strict-Transport-Security", "Content-Security-Policy",
	"Referrer-Policy", "Access-Control-Allow-Origin", "X-Powered-By", "Www-Authenticate",
	"Accept-Ranges", "Age", "X-Correlation-Id",
}

var headerValues = [...]string{
	"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
	"application/json; charset=UTF-8", "text/plain", "text/plain; charset=utf-8",
	"text/plain;charset=UTF-8", "text/html", "text/html; charset=utf-8",
	"text/html; charset=UTF-8", "text/html;charset=UTF-8", "application/xml",
	"application/xml; charset=utf-8", "text/xml; charset=utf-8", "application/problem+json",
	"application/x-www-form-urlencoded", "no-store", "no-cache",
	"no-cache, no-store, must-revalidate", "no-store, no-cache, must-revalidate", "private",
	"max-age=0", "nosniff", "DENY", "SAMEORIGIN", "gzip", "br", "*", "Accept-Encoding",
	"Origin", "bytes", "no-referrer", "strict-origin-when-cross-origin",
	"max-age=31536000; includeSubDomains", "0", "Express", "PHP/8.2",
}

var (
	headerNameIndex  = tableIndex(headerNames[:])
	headerValueIndex = tableIndex(headerValues[:])
)

func tableIndex(table []string) map[string]uint64 {
	m := make(map[string]uint64, len(table))
	for i, s := range table {
		m[s] = uint64(i)
	}
	return m
}

// errBadAnswer is what DecodeAnswer returns for any input that EncodeAnswer
// did not write: truncated, trailing bytes, unknown version or table entry.
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
			dst = appendRef(dst, name, headerNameIndex)
			dst = appendRef(dst, v, headerValueIndex)
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
			n += refLen(name, headerNameIndex) + refLen(v, headerValueIndex)
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

func appendRef(dst []byte, s string, table map[string]uint64) []byte {
	if i, ok := table[s]; ok {
		return binary.AppendUvarint(dst, 2*i+1)
	}
	dst = binary.AppendUvarint(dst, 2*uint64(len(s)))
	return append(dst, s...)
}

func refLen(s string, table map[string]uint64) int {
	if i, ok := table[s]; ok {
		return uvarintLen(2*i + 1)
	}
	return uvarintLen(2*uint64(len(s))) + len(s)
}

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
// array for the header values and one string for all literal header text.
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
	// so that all literal text becomes one string.
	end := 0
	for range pairs {
		var okName, okValue bool
		end, _, _, okName = readRef(p, end, len(headerNames))
		if !okName {
			return nil, errBadAnswer
		}
		if end, _, _, okValue = readRef(p, end, len(headerValues)); !okValue {
			return nil, errBadAnswer
		}
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
		off, name = refString(p, text, off, headerNames[:])
		off, values[i] = refString(p, text, off, headerValues[:])
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

// readRef validates the ref at p[off:] and returns where it ends, and the
// literal's bounds (start, length; length -1 for a table entry at index
// start). tableLen is the size of the table the ref may point into.
func readRef(p []byte, off int, tableLen int) (next, start, length int, ok bool) {
	x, n := binary.Uvarint(p[off:])
	if n <= 0 {
		return 0, 0, 0, false
	}
	off += n
	if x&1 == 1 {
		if x/2 >= uint64(tableLen) {
			return 0, 0, 0, false
		}
		return off, int(x / 2), -1, true
	}
	if x/2 > uint64(len(p)-off) {
		return 0, 0, 0, false
	}
	return off + int(x/2), off, int(x / 2), true
}

// refString returns the string of a ref that the first pass validated,
// slicing literals out of text (the header section of p as one string).
func refString(p []byte, text string, off int, table []string) (int, string) {
	next, start, length, _ := readRef(p, off, len(table))
	if length < 0 {
		return next, table[start]
	}
	return next, text[start : start+length]
}
