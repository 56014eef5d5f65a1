package signedurl

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"
)

// requestTarget returns the path and query the backend receives: the
// request line's target, or, for an absolute-form target (sent to a
// proxy) or a request without a request line (built in Go), the parsed
// URL's path and query, which is what reverse_proxy forwards.
func requestTarget(r *http.Request) string {
	if r == nil {
		return ""
	}
	if r.URL != nil && (r.RequestURI == "" || r.URL.IsAbs()) {
		return r.URL.RequestURI()
	}
	return r.RequestURI
}

// checkTarget rejects a request target that the URL parser would change
// in meaning before it is signed, so that what is verified is exactly what
// the backend gets. The parser drops a fragment, deletes tabs and
// newlines, trims trailing spaces and control characters, reads invalid
// UTF-8 as U+FFFD, treats a backslash as '/' and
// resolves "." and ".." segments (also spelled %2e, in any case), while a
// backend or a file server may do none of it: /DE/ORD-6666/%2e%2e/ORD-1001
// would verify with the signature of /DE/ORD-1001 and reach the backend
// as written. An encoded backslash (%5C) is rejected too, because
// backends that decode the path before splitting it see a separator there.
func checkTarget(target string) error {
	if strings.ContainsAny(target, "#\t\n\r") || strings.TrimRightFunc(target, c0OrSpace) != target {
		return errors.New("request target holds a fragment, a tab or newline, or ends in white space")
	}
	if !utf8.ValidString(target) {
		return errors.New("request target is not valid UTF-8")
	}
	path, _, _ := strings.Cut(target, "?")
	if strings.Contains(path, `\`) || strings.Contains(path, "%5c") || strings.Contains(path, "%5C") {
		return errors.New("request path holds a backslash")
	}
	if hasDotSegment(path) {
		return errors.New("request path holds a dot segment")
	}
	return nil
}

// hasDotSegment reports whether path has a segment that the URL parser
// resolves: "." or "..", each dot possibly written %2e or %2E.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		switch len(seg) {
		case 1, 2:
			if seg == "." || seg == ".." {
				return true
			}
		case 3, 4, 6:
			for _, dots := range []string{"%2e", ".%2e", "%2e.", "%2e%2e"} {
				if strings.EqualFold(seg, dots) {
					return true
				}
			}
		}
	}
	return false
}
