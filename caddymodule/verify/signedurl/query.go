package signedurl

import (
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// This file is the URLSearchParams half of the canonical form: parse,
// delete, stable sort and serialize, as node does them. Go's
// url.ParseQuery/Values.Encode cannot be used: Encode escapes '~' and '*'
// differently, sorts through a map (so repeated names lose their order)
// and ParseQuery rejects what URLSearchParams accepts.

// param is one name/value pair of a query, decoded.
type param struct{ name, value string }

// canonicalQuery parses query (a URL's query, without '?', valid UTF-8) the way
// URLSearchParams does, deletes every pair named name, sorts the rest
// stably by name in UTF-16 code unit order and writes them to b, after a
// '?' unless none is left. It returns the first value of name (what
// searchParams.get returns) and whether name occurred.
func canonicalQuery(b *strings.Builder, query, name string) (value string, found bool) {
	params := make([]param, 0, 8)
	for seq := range strings.SplitSeq(query, "&") {
		if seq == "" {
			continue
		}
		n, v, _ := strings.Cut(seq, "=")
		p := param{formDecode(n), formDecode(v)}
		if p.name != name {
			params = append(params, p)
		} else if !found {
			value, found = p.value, true
		}
	}
	slices.SortStableFunc(params, func(a, b param) int { return compareUTF16(a.name, b.name) })

	for i, p := range params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		formEncode(b, p.name)
		b.WriteByte('=')
		formEncode(b, p.value)
	}
	return value, found
}

// formDecode decodes one name or value as URLSearchParams does: bytes as
// verify.FormUnescape decodes them, read as UTF-8 with each maximal invalid
// sequence becoming U+FFFD, which is the JavaScript string node holds (Go's
// own range loop and ToValidUTF8 replace differently).
func formDecode(s string) string {
	s = verify.FormUnescape(s)
	if !utf8.ValidString(s) {
		s, _ = unicode.UTF8.NewDecoder().String(s)
	}
	return s
}

// formEncode is the application/x-www-form-urlencoded serializer: ASCII
// alphanumerics and *-._ stay, a space becomes '+', every other byte %XX.
func formEncode(b *strings.Builder, s string) {
	const upperHex = "0123456789ABCDEF"
	for s != "" {
		i := 0
		for i < len(s) && formSafe[s[i]] {
			i++
		}
		b.WriteString(s[:i])
		if i == len(s) {
			return
		}
		if c := s[i]; c == ' ' {
			b.WriteByte('+')
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
		s = s[i+1:]
	}
}

// formSafe marks the bytes the urlencoded serializer leaves alone.
var formSafe = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("*-._", byte(c)) >= 0
	}
	return t
}()

// compareUTF16 compares two valid UTF-8 strings in the order of their
// UTF-16 code units, which is JavaScript's string order. It equals byte
// order except that a supplementary-plane character (a surrogate pair,
// 0xD800..) sorts before U+E000..U+FFFF, where UTF-8 puts it after.
func compareUTF16(a, b string) int {
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
	ra, _ := utf8.DecodeRuneInString(a[i:])
	rb, _ := utf8.DecodeRuneInString(b[i:])
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
