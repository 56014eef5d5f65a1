package jsonscan

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// keyEqual reports whether the raw content of a key literal, once unescaped
// as encoding/json unescapes map keys, is key. Keys without escapes and
// without bytes >= 0x80 (nearly all) are compared in place by this inlined
// test; the others go to keyEqualSlow.
func keyEqual(raw []byte, flags int, key string) bool {
	if flags == 0 {
		return string(raw) == key
	}
	return keyEqualSlow(raw, flags, key)
}

// keyEqualSlow compares a key with escapes or bytes >= 0x80: valid UTF-8
// without escapes is still its own text; anything else is decoded into a
// stack buffer (a decoded key longer than it costs an allocation).
func keyEqualSlow(raw []byte, flags int, key string) bool {
	if flags == strHigh && utf8.Valid(raw) {
		return string(raw) == key
	}
	var buf [128]byte
	return string(appendUnquoted(buf[:0], raw)) == key
}

// appendUnquoted appends the decoded content of a string literal that
// scanString accepted (so every escape is well formed). It follows
// encoding/json's unquoteBytes step by step:
//   - \uXXXX of a surrogate joins with an immediately following \uXXXX when
//     the two form a valid pair; otherwise the first becomes U+FFFD and the
//     next escape is decoded on its own (so a high surrogate followed by
//     another high surrogate may still pair with a third);
//   - every byte of invalid UTF-8 (including UTF-8-encoded surrogates)
//     becomes one U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := rune(hex4(s[r+2 : r+6]))
				r += 6
				if utf16.IsSurrogate(rr) {
					if len(s)-r >= 6 && s[r] == '\\' && s[r+1] == 'u' {
						dec := utf16.DecodeRune(rr, rune(hex4(s[r+2:r+6])))
						if dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							r += 6
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += size
		}
	}
	return dst
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) int {
	n := 0
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		n = n<<4 | int(c)
	}
	return n
}
