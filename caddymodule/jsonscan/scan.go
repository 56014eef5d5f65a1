package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// maxDepth is encoding/json's nesting limit: json.Valid (and so Unmarshal)
// rejects a document with more than 10000 arrays and objects open at once.
// The scanner keeps no call stack per level, only one bit, so the limit is
// there to agree with encoding/json, not to protect the stack.
const maxDepth = 10000

// target is the state of one path during a scan.
//
// Depths count open containers: the top-level object is depth 1 and its keys
// are compared with keys[0]. An object is "on the path" when it is the
// top-level object or the value of an on-path key; on-path objects are always
// the outermost ones of the open containers, so one number, live, says which.
type target struct {
	keys []string
	// live is the depth of the deepest open object on the path, 0 if none.
	live int
	// capDepth is the depth of the captured object or array while it is
	// still open, 0 otherwise.
	capDepth int
	// start and end delimit the captured value in doc.
	start, end int
	// found: the last occurrence of the path seen so far is the captured
	// value. A later occurrence of any key of the path clears it, because
	// map assignment replaces the whole earlier value.
	found bool
	// scalar: the captured value is a scalar the scanner has not read yet.
	scalar bool
	// flags are the scanString flags of a captured string (meaningless for
	// other values), so that rendering a plain string is a copy without a
	// second look at its bytes.
	flags int
}

// String scan flags.
const (
	strEscape = 1 << iota // a backslash escape
	strHigh               // a byte >= 0x80 (maybe invalid UTF-8)
)

// scan validates doc as json.Valid does and, on the way, captures for every
// target the last value at its path. It walks the bytes in a loop with an
// explicit bit stack (1 = object) instead of recursing, so deep input costs
// 1 bit per level and no stack growth. The results are meaningful only when it
// returns true.
func scan(doc []byte, ts []target) bool {
	var (
		stackBuf  [8]uint64 // 512 levels before the stack goes to the heap
		stack     = stackBuf[:]
		depth     int
		maxLive   int  // max of ts[k].live: deeper keys need no comparison
		capScalar bool // some target waits for the scalar being read
		i         = skipWS(doc, 0)
		c         byte
		flags     int
	)

value: // doc[i] should start a value
	if i >= len(doc) {
		return false
	}
	switch c = doc[i]; c {
	case '{', '[':
		depth++
		if depth > maxDepth {
			return false
		}
		w, b := depth>>6, uint64(1)<<(depth&63)
		if w >= len(stack) {
			stack = append(stack, 0)
		}
		if c == '[' {
			stack[w] &^= b
			i = skipWS(doc, i+1)
			if i < len(doc) && doc[i] == ']' {
				i++
				goto closed
			}
			goto value
		}
		stack[w] |= b
		if depth == 1 {
			for k := range ts {
				if len(ts[k].keys) > 0 {
					ts[k].live, maxLive = 1, 1
				} else { // the empty path names the top-level object
					ts[k].found, ts[k].start, ts[k].capDepth = true, i, 1
				}
			}
		}
		i = skipWS(doc, i+1)
		if i < len(doc) && doc[i] == '}' {
			i++
			goto closed
		}
		goto key
	case '"':
		if i, flags = scanString(doc, i+1); i < 0 {
			return false
		}
	case 't':
		if len(doc)-i < 4 || string(doc[i:i+4]) != "true" {
			return false
		}
		i += 4
	case 'f':
		if len(doc)-i < 5 || string(doc[i:i+5]) != "false" {
			return false
		}
		i += 5
	case 'n':
		if len(doc)-i < 4 || string(doc[i:i+4]) != "null" {
			return false
		}
		i += 4
	default:
		if i = scanNumber(doc, i); i < 0 {
			return false
		}
	}
	if capScalar {
		for k := range ts {
			if ts[k].scalar {
				ts[k].end, ts[k].flags, ts[k].scalar = i, flags, false
			}
		}
		capScalar = false
	}
	goto next

closed: // a container at depth ends just before i
	if depth <= maxLive+1 {
		for k := range ts {
			t := &ts[k]
			if t.capDepth == depth {
				t.end, t.capDepth = i, 0
			}
			if t.live == depth {
				t.live = depth - 1
			}
		}
		if maxLive == depth {
			maxLive = depth - 1
		}
	}
	depth--

next: // a value ends just before i
	i = skipWS(doc, i)
	if depth == 0 {
		return i == len(doc)
	}
	if i >= len(doc) {
		return false
	}
	c = doc[i]
	if stack[depth>>6]&(1<<(depth&63)) != 0 {
		if c == '}' {
			i++
			goto closed
		}
		if c != ',' {
			return false
		}
		i = skipWS(doc, i+1)
		goto key
	}
	if c == ']' {
		i++
		goto closed
	}
	if c != ',' {
		return false
	}
	i = skipWS(doc, i+1)
	goto value

key: // doc[i] should open an object key
	if i >= len(doc) || doc[i] != '"' {
		return false
	}
	{
		ks := i + 1
		end, kflags := scanString(doc, ks)
		if end < 0 {
			return false
		}
		i = skipWS(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return false
		}
		i = skipWS(doc, i+1)
		if depth > maxLive || i >= len(doc) {
			goto value
		}
		raw, vc := doc[ks:end-1], doc[i]
		for k := range ts {
			t := &ts[k]
			if t.live != depth || !keyEqual(raw, kflags, t.keys[depth-1]) {
				continue
			}
			t.found = false
			switch {
			case len(t.keys) == depth:
				t.found, t.start = true, i
				if vc == '{' || vc == '[' {
					t.capDepth = depth + 1
				} else {
					t.scalar, capScalar = true, true
				}
			case vc == '{':
				t.live = depth + 1
				maxLive = max(maxLive, t.live)
			}
		}
	}
	goto value
}

// skipWS returns the index of the first byte at or after i that is not JSON
// whitespace (space, tab, CR, LF; nothing else, as in encoding/json).
func skipWS(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString marks the bytes a string literal may hold as they are: not the
// quote, not the backslash, not a control character, not a byte >= 0x80.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Constants of the eight-bytes-at-a-time test in scanString.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// scanString reads a string literal whose opening quote is just before i and
// returns the index after its closing quote (-1 if the literal is invalid) and
// what it holds (strEscape, strHigh). Like encoding/json it rejects control
// characters and unknown escapes but accepts any byte >= 0x80: invalid UTF-8
// is valid JSON to json.Valid and becomes U+FFFD only when decoded.
//
// Plain bytes are skipped eight at a time: in the word x, a byte's top bit
// ends up set in m if it is < 0x20, '"', '\\' or >= 0x80 ((v-lsb)&^v flags a
// zero byte of v). A borrow can also flag a byte above a flagged one, never
// below, so the lowest flag is exact and the scan stops there.
func scanString(doc []byte, i int) (int, int) {
	flags := 0
	for {
		for len(doc)-i >= 8 {
			x := binary.LittleEndian.Uint64(doc[i:])
			q, b := x^(lsb*'"'), x^(lsb*'\\')
			m := ((x-lsb*0x20)&^x | (q-lsb)&^q | (b-lsb)&^b | x) & msb
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(doc) && plainString[doc[i]] {
			i++
		}
		if i >= len(doc) {
			return -1, 0
		}
		switch c := doc[i]; {
		case c == '"':
			return i + 1, flags
		case c == '\\':
			flags |= strEscape
			if i+1 >= len(doc) {
				return -1, 0
			}
			switch doc[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(doc)-i < 6 || hex4(doc[i+2:i+6]) < 0 {
					return -1, 0
				}
				i += 6
			default:
				return -1, 0
			}
		case c < 0x20:
			return -1, 0
		default:
			flags |= strHigh
			i++
		}
	}
}

// scanNumber reads the number starting at i and returns the index after it,
// or -1. The grammar is JSON's: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// A digit right after a leading 0 ends the number; the caller then finds a
// byte that cannot follow a value, so "01" is invalid as in encoding/json.
func scanNumber(doc []byte, i int) int {
	if doc[i] == '-' {
		i++
	}
	switch {
	case i < len(doc) && doc[i] == '0':
		i++
	case i < len(doc) && '1' <= doc[i] && doc[i] <= '9':
		i = digits(doc, i+1)
	default:
		return -1
	}
	if i < len(doc) && doc[i] == '.' {
		if i++; i >= len(doc) || !isDigit(doc[i]) {
			return -1
		}
		i = digits(doc, i+1)
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		if i++; i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		if i >= len(doc) || !isDigit(doc[i]) {
			return -1
		}
		i = digits(doc, i+1)
	}
	return i
}

func digits(doc []byte, i int) int {
	for i < len(doc) && isDigit(doc[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
