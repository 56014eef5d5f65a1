package jwtauth

import (
	"encoding/binary"
	"encoding/json"
)

// jsonField returns the top-level string field name of a JSON object body
// (sharing b's memory when it needs no decoding, see extract).
// It scans instead of decoding the body into a map (which costs ~1.35 µs and
// 13 allocations on a typical callback, against ~0.2 µs), and validates the
// whole body as it goes, so that it finds a token exactly when encoding/json
// would. A body that is not a JSON object, a null or an empty string is
// absent; a field given twice, or a value that is not a string, is ambiguous
// (encoding/json and PHP keep the last duplicate).
func jsonField(b []byte, name string) (string, found) {
	s := jsonScanner{b: b}
	s.ws()
	if !s.eat('{') {
		return "", absent
	}
	var val string
	seen, bad := false, false
	s.ws()
	if !s.eat('}') {
		for {
			s.ws()
			ks, ke, kesc, ok := s.str()
			if !ok {
				return "", absent
			}
			s.ws()
			if !s.eat(':') {
				return "", absent
			}
			s.ws()
			if keyIs(b, ks, ke, kesc, name) {
				bad = bad || seen
				seen = true
				switch {
				case s.peek('"'):
					vs, ve, vesc, ok := s.str()
					if !ok {
						return "", absent
					}
					val, ok = jsonString(b, vs, ve, vesc)
					bad = bad || !ok
				case s.lit("null"):
					val = ""
				default:
					if !s.value(1) {
						return "", absent
					}
					bad = true
				}
			} else if !s.value(1) {
				return "", absent
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return "", absent
		}
	}
	s.ws()
	switch {
	case s.i != len(b):
		return "", absent
	case bad:
		return "", ambiguous
	case val == "":
		return "", absent
	}
	return val, present
}

// isJSONObject reports whether b is exactly one JSON object, with optional
// whitespace around it: what json.Valid accepts, restricted to objects.
// (Verify reads the payload with jsonscan, which checks the same; this is
// the check of the reference verifier the tests hold Verify to.)
func isJSONObject(b []byte) bool {
	s := jsonScanner{b: b}
	s.ws()
	if !s.peek('{') || !s.value(0) {
		return false
	}
	s.ws()
	return s.i == len(b)
}

// keyIs compares the JSON string content b[start:end] with name.
func keyIs(b []byte, start, end int, escaped bool, name string) bool {
	if !escaped {
		return string(b[start:end]) == name
	}
	k, ok := jsonString(b, start, end, true)
	return ok && k == name
}

// jsonString decodes the JSON string content b[start:end]. Only strings
// with escapes or non-ASCII bytes go through encoding/json; a JWT has
// neither, and is returned without a copy, sharing b's memory (see
// extract).
func jsonString(b []byte, start, end int, escaped bool) (string, bool) {
	if !escaped {
		return stringView(b[start:end]), true
	}
	var s string
	err := json.Unmarshal(b[start-1:end+1], &s)
	return s, err == nil
}

// maxJSONDepth is encoding/json's nesting limit, kept so that the scanner
// accepts what it accepts.
const maxJSONDepth = 10000

// jsonScanner is a validating JSON scanner that keeps nothing but its
// position: enough to skip the values around the one field wanted.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) peek(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

func (s *jsonScanner) eat(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) lit(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// str scans a string at the current position and returns the bounds of its
// content (without the quotes) and whether it must be decoded (it holds an
// escape or a non-ASCII byte) rather than read as it stands.
func (s *jsonScanner) str() (start, end int, escaped, ok bool) {
	if !s.eat('"') {
		return 0, 0, false, false
	}
	start = s.i
	for s.i < len(s.b) {
		s.skipPlain()
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			end = s.i
			s.i++
			return start, end, escaped, true
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return 0, 0, false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return 0, 0, false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return 0, 0, false, false
					}
				}
				s.i += 5
			default:
				return 0, 0, false, false
			}
		case c < 0x20:
			return 0, 0, false, false
		default:
			// Non-ASCII: encoding/json replaces invalid UTF-8 with
			// U+FFFD, so such a string is decoded the slow way too.
			escaped = escaped || c >= 0x80
			s.i++
		}
	}
	return 0, 0, false, false
}

// skipPlain advances over string bytes that need no attention (not '"',
// '\\', a control character or non-ASCII), eight at a time: a token field
// is a few KB of such bytes.
func (s *jsonScanner) skipPlain() {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for len(s.b)-s.i >= 8 {
		x := binary.LittleEndian.Uint64(s.b[s.i:])
		q := x ^ ('"' * ones)
		bs := x ^ ('\\' * ones)
		// A byte of v is zero, or below 0x20 for x: the classic SWAR tests;
		// exact about whether any byte matches, which is all that is used.
		// A set high bit of x itself is a non-ASCII byte.
		special := ((q - ones) &^ q) | ((bs - ones) &^ bs) | ((x - 0x20*ones) &^ x) | x
		if special&highs != 0 {
			return
		}
		s.i += 8
	}
}

// value skips one JSON value; depth is the number of enclosing containers.
func (s *jsonScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, _, ok := s.str()
		return ok
	case c == '{' || c == '[':
		if depth+1 > maxJSONDepth {
			return false
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		s.i++
		s.ws()
		if s.eat(closing) {
			return true
		}
		for {
			s.ws()
			if c == '{' {
				if _, _, _, ok := s.str(); !ok {
					return false
				}
				s.ws()
				if !s.eat(':') {
					return false
				}
				s.ws()
			}
			if !s.value(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat(closing)
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		s.eat('-')
		if !s.eat('0') && !s.digits() {
			return false
		}
		if s.eat('.') && !s.digits() {
			return false
		}
		if s.peek('e') || s.peek('E') {
			s.i++
			if !s.eat('+') {
				s.eat('-')
			}
			if !s.digits() {
				return false
			}
		}
		return true
	}
	return false
}
