package signedurl

import "unicode/utf8"

// This file holds the application/x-www-form-urlencoded half of the
// canonical form: the URLSearchParams parser, delete, the stable sort and
// the serializer, plus the WHATWG UTF-8 decoder they rely on. Go's
// url.ParseQuery/Values.Encode cannot be used: Encode escapes '~' and '*'
// differently, sorts through a map (so repeated keys lose their order) and
// ParseQuery rejects what URLSearchParams accepts.

// tuple is one name/value pair of the query after parsing, as offsets into
// state.scratch, which holds the decoded (valid UTF-8) bytes.
type tuple struct{ n0, n1, v1 int } // name scratch[n0:n1], value scratch[n1:v1]

// parseQuery parses q the way URLSearchParams does and keeps every tuple
// not named param, in order, in s.tuples. The value of the first tuple named
// param (what searchParams.get returns) is left at s.scratch[s.sig0:s.sig1];
// later ones are dropped, as searchParams.delete drops them all.
func (s *state) parseQuery(q, param string) {
	for len(q) > 0 {
		seq := q
		q = ""
		for i := 0; i < len(seq); i++ {
			if seq[i] == '&' {
				seq, q = seq[:i], seq[i+1:]
				break
			}
		}
		if seq == "" {
			continue
		}
		name, value := seq, ""
		for i := 0; i < len(seq); i++ {
			if seq[i] == '=' {
				name, value = seq[:i], seq[i+1:]
				break
			}
		}
		n0 := len(s.scratch)
		s.appendFormDecoded(name)
		n1 := len(s.scratch)
		s.appendFormDecoded(value)
		v1 := len(s.scratch)
		if string(s.scratch[n0:n1]) == param {
			if s.found {
				s.scratch = s.scratch[:n0]
			} else {
				s.found, s.sig0, s.sig1 = true, n1, v1
			}
			continue
		}
		s.tuples = append(s.tuples, tuple{n0, n1, v1})
	}
}

// appendFormDecoded appends the decoding of one name or value to s.scratch:
// '+' becomes a space, valid %XX sequences become bytes (invalid ones stay
// literally) and the bytes are then decoded as UTF-8 with replacement, so
// what is stored is exactly the UTF-8 of the JavaScript string node holds.
func (s *state) appendFormDecoded(in string) {
	start := len(s.scratch)
	// Most names and values need no decoding: copy the plain prefix at once.
	i := 0
	for i < len(in) && in[i] != '+' && in[i] != '%' && in[i] < utf8.RuneSelf {
		i++
	}
	s.scratch = append(s.scratch, in[:i]...)
	if i == len(in) {
		return
	}
	ascii := true
	for ; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(in) && isHex(in[i+1]) && isHex(in[i+2]):
			c = unhex(in[i+1])<<4 | unhex(in[i+2])
			i += 2
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		s.scratch = append(s.scratch, c)
	}
	if ascii || utf8.Valid(s.scratch[start:]) {
		return
	}
	// Rare: repair through s.tmp so that invalid sequences become U+FFFD
	// exactly where the WHATWG decoder puts them.
	s.tmp = append(s.tmp[:0], s.scratch[start:]...)
	s.scratch = appendRepairedUTF8(s.scratch[:start], s.tmp)
}

// sortTuples is URLSearchParams.sort: a stable sort by name, comparing
// UTF-16 code units. Queries are short, so an insertion sort (stable, no
// allocation) is used; long ones fall back to a merge-based stable sort.
func (s *state) sortTuples() {
	t := s.tuples
	if len(t) > 32 {
		s.mergeSort()
		return
	}
	for i := 1; i < len(t); i++ {
		x := t[i]
		j := i
		for j > 0 && s.less(x, t[j-1]) {
			t[j] = t[j-1]
			j--
		}
		t[j] = x
	}
}

// mergeSort is a bottom-up stable merge sort through a second buffer, for
// queries with many parameters where insertion sort would be quadratic.
func (s *state) mergeSort() {
	a := s.tuples
	b := s.tuples2[:0]
	b = append(b, a...)
	src, dst := a, b
	for width := 1; width < len(a); width *= 2 {
		for lo := 0; lo < len(a); lo += 2 * width {
			mid := min(lo+width, len(a))
			hi := min(lo+2*width, len(a))
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if s.less(src[j], src[i]) {
					dst[k] = src[j]
					j++
				} else {
					dst[k] = src[i]
					i++
				}
				k++
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
	s.tuples2 = b
}

func (s *state) less(a, b tuple) bool {
	return compareUTF16(s.scratch[a.n0:a.n1], s.scratch[b.n0:b.n1]) < 0
}

// compareUTF16 compares two valid UTF-8 strings in the order of their UTF-16
// code units, which is JavaScript's string order. It equals byte order except
// that a supplementary-plane character (a surrogate pair, 0xD800..) sorts
// before U+E000..U+FFFF, where UTF-8 puts it after.
func compareUTF16(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) || i == len(b) {
		return len(a) - len(b) // equal, or one is a prefix of the other
	}
	// Back up to the first byte of the characters that differ; the bytes
	// before are equal, so both start at the same offset.
	for i > 0 && a[i]&0xC0 == 0x80 {
		i--
	}
	ra, _ := utf8.DecodeRune(a[i:])
	rb, _ := utf8.DecodeRune(b[i:])
	return int(utf16Key(ra)) - int(utf16Key(rb))
}

// utf16Key maps a code point to a value whose order is UTF-16 code unit
// order for a first differing character: U+E000..U+FFFF are moved above
// every supplementary-plane character.
func utf16Key(r rune) rune {
	if r >= 0xE000 && r <= 0xFFFF {
		return r + 0x110000
	}
	return r
}

// appendFormEncoded is the application/x-www-form-urlencoded byte
// serializer: ASCII alphanumerics and *-._ stay, space becomes '+',
// everything else becomes %XX with upper-case hex.
func appendFormEncoded(dst, b []byte) []byte {
	for len(b) > 0 {
		i := 0
		for i < len(b) && formSafe[b[i]] {
			i++
		}
		dst = append(dst, b[:i]...)
		if i == len(b) {
			break
		}
		if c := b[i]; c == ' ' {
			dst = append(dst, '+')
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
		b = b[i+1:]
	}
	return dst
}

// appendQuery serializes the kept tuples. Nothing is appended when there
// are none: URLSearchParams' update steps set the query to null for an
// empty serialization, so node prints no '?' at all.
func (s *state) appendQuery() {
	for i, t := range s.tuples {
		if i == 0 {
			s.out = append(s.out, '?')
		} else {
			s.out = append(s.out, '&')
		}
		s.out = appendFormEncoded(s.out, s.scratch[t.n0:t.n1])
		s.out = append(s.out, '=')
		s.out = appendFormEncoded(s.out, s.scratch[t.n1:t.v1])
	}
}

// utf8SeqLen reads one character at the start of p (p[0] >= 0x80) the way
// the WHATWG UTF-8 decoder does. It returns the number of bytes consumed
// and whether they formed a valid character. An invalid sequence consumes
// its maximal valid prefix (at least one byte) and stands for one U+FFFD;
// Go's utf8.DecodeRune would report one error per byte instead, and
// strings.ToValidUTF8 one per run, and both disagree with node.
func utf8SeqLen[T string | []byte](p T) (int, bool) {
	need := 0
	lo, hi := byte(0x80), byte(0xBF)
	switch b := p[0]; {
	case b >= 0xC2 && b <= 0xDF:
		need = 1
	case b == 0xE0:
		need, lo = 2, 0xA0
	case b == 0xED:
		need, hi = 2, 0x9F
	case b >= 0xE1 && b <= 0xEF:
		need = 2
	case b == 0xF0:
		need, lo = 3, 0x90
	case b >= 0xF1 && b <= 0xF3:
		need = 3
	case b == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1, false
	}
	for i := 1; i <= need; i++ {
		if i >= len(p) || p[i] < lo || p[i] > hi {
			return i, false
		}
		lo, hi = 0x80, 0xBF
	}
	return need + 1, true
}

// appendRepairedUTF8 appends src with every invalid UTF-8 sequence replaced
// by U+FFFD as the WHATWG decoder does.
func appendRepairedUTF8[T string | []byte](dst []byte, src T) []byte {
	for i := 0; i < len(src); {
		if src[i] < utf8.RuneSelf {
			dst = append(dst, src[i])
			i++
			continue
		}
		n, ok := utf8SeqLen(src[i:])
		if ok {
			dst = append(dst, src[i:i+n]...)
		} else {
			dst = append(dst, "\uFFFD"...)
		}
		i += n
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// formSafe marks the bytes the urlencoded serializer leaves alone.
var formSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "*-._" {
		t[c] = true
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
