package verify

import (
	"encoding/hex"
	"strings"
)

// FormUnescape decodes one name or value of application/x-www-form-urlencoded
// data as browsers, PHP, Python and Node do: '+' is a space, a valid %XX is
// its byte, and a '%' not followed by two hex digits stays as written. Go's
// url.QueryUnescape refuses such input instead, so a Go reading of a form
// would see no name where those backends see one. The result may be
// invalid UTF-8, as the bytes are.
func FormUnescape(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s):
			var x [1]byte
			if _, err := hex.Decode(x[:], []byte(s[i+1:i+3])); err == nil {
				c = x[0]
				i += 2
			}
		}
		b = append(b, c)
	}
	return string(b)
}
