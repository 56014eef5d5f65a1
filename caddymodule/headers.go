package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// isCallbackHeader reports whether a header name is one of the guard's own
// (X-Callback-…) in any case and with `_` or `.` for `-`: PHP and CGI map
// `X_Callback_Verified` and `X-Callback-Verified` to the same variable, and
// other servers fold `.` the same way, so every spelling is the guard's.
func isCallbackHeader(name string) bool {
	if len(name) < len(hdrPrefix) {
		return false
	}
	for i := 0; i < len(hdrPrefix); i++ {
		c, want := name[i], hdrPrefix[i]
		if want == '-' {
			if c != '-' && c != '_' && c != '.' {
				return false
			}
			continue
		}
		if c|0x20 != want|0x20 {
			return false
		}
	}
	return true
}

// stripForged deletes every inbound header in the guard's namespace.
func stripForged(h http.Header) {
	for name := range h {
		if isCallbackHeader(name) {
			delete(h, name)
		}
	}
}

// cleanConnection removes from the Connection header every token that
// names one of the guard's headers, or a header the guard checked (kept
// lower-case in checked): a proxy hop drops what Connection names, so a
// client could otherwise have reverse_proxy delete X-Callback-Verified
// after the guard set it, or a signature the backend checks again.
func cleanConnection(h http.Header, checked []string) {
	values, ok := h["Connection"]
	if !ok {
		return
	}
	var kept []string
	changed := false
	for _, v := range values {
		var b strings.Builder
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			if isCallbackHeader(tok) || namesChecked(tok, checked) {
				changed = true
				continue
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tok)
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	switch {
	case !changed:
	case len(kept) == 0:
		delete(h, "Connection")
	default:
		h["Connection"] = kept
	}
}

func namesChecked(tok string, checked []string) bool {
	for _, name := range checked {
		if strings.EqualFold(tok, name) {
			return true
		}
	}
	return false
}

// maxKeyLen is the longest dedupe key sent as it is; a longer one is sent
// (and stored) as sha256:<hex> of it.
const maxKeyLen = 256

// safeKey is the dedupe key as the backend receives it in X-Callback-Id and
// as it is stored: a value that every HTTP stack accepts, made from the
// request by an injective encoding (a key that itself starts with
// "sha256:" is hashed too, so that it cannot stand for a long one).
func safeKey(key string) string {
	if len(key) > maxKeyLen || strings.HasPrefix(key, "sha256:") {
		sum := sha256.Sum256([]byte(key))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return safeValue(key)
}

// safeValue percent-encodes control characters, `%` and every byte
// outside printable ASCII, so that a value taken from the request (a JSON
// field, a claim) can neither break the forwarded header nor make the
// proxy refuse it. Printable ASCII, the space included, stays as it is.
func safeValue(v string) string {
	n := 0
	for i := 0; i < len(v); i++ {
		if needsEscape(v[i]) {
			n++
		}
	}
	if n == 0 {
		return v
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(v)+2*n)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if needsEscape(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

func needsEscape(c byte) bool { return c < 0x20 || c > 0x7e || c == '%' }

// hasFragment reports whether the request target holds a `#`. Go keeps it
// in the path or the query rather than dropping it as a fragment, and
// reverse_proxy forwards it: what the guard checked would not be what the
// backend reads.
func hasFragment(r *http.Request) bool {
	return strings.IndexByte(r.RequestURI, '#') >= 0 ||
		strings.IndexByte(r.URL.RawQuery, '#') >= 0 ||
		strings.IndexByte(r.URL.Path, '#') >= 0 ||
		r.URL.Fragment != ""
}
