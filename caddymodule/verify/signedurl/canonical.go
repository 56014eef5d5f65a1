package signedurl

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	whatwg "github.com/nlnwa/whatwg-url/url"
	"golang.org/x/text/encoding/unicode"
)

// canonicalRequest returns the string Glopal signs for a request whose
// client-side scheme and host (host[:port]) are given and whose request
// target (path and query as on the request line) is target, together with
// the first value of param (the hex signature) and whether param occurs.
//
// The string is node's
//
//	u = new URL(url); u.searchParams.delete(param); u.searchParams.sort(); u.toString()
//
// without the fragment, which never reaches a server. The WHATWG URL parser
// (nlnwa/whatwg-url) gives the scheme, host and path; the query is
// canonicalized here (canonicalQuery), because that library's
// URLSearchParams decodes '+' after '%2B' and sorts by bytes, where the
// standard sorts by UTF-16 code units. An error means node's URL parser
// would throw, so nothing can have been signed for the request.
func canonicalRequest(scheme, host, target, param string) (canonical, sig string, found bool, err error) {
	if host == "" || strings.ContainsAny(host, `/\?#@`) {
		// Inside a URL these would end the host or make part of it user
		// info; a Host header holding them names no host.
		return "", "", false, fmt.Errorf("host %q is not valid in a URL", host)
	}
	if target != "" && !strings.ContainsRune(`/\?#`, rune(target[0])) {
		return "", "", false, errors.New("request target is not a path")
	}
	// The parser's clean-up of its whole input, done here because the query
	// does not go through it: invalid UTF-8 read as the WHATWG decoder reads
	// it, the end trimmed, tabs and newlines deleted.
	if !utf8.ValidString(target) {
		target, _ = unicode.UTF8.NewDecoder().String(target)
	}
	target = tabOrNewline.Replace(strings.TrimRightFunc(target, c0OrSpace))
	target, _, _ = strings.Cut(target, "#")
	path, query, _ := strings.Cut(target, "?")

	origin, path, err := originAndPath(scheme, host, path)
	if err != nil {
		return "", "", false, err
	}
	var b strings.Builder
	b.Grow(len(origin) + len(path) + 1 + len(query))
	b.WriteString(origin)
	b.WriteString(path)
	sig, found = canonicalQuery(&b, query, param)
	return b.String(), sig, found, nil
}

// originAndPath returns the WHATWG serialization of scheme://host and of
// path, from the URL parser. The origin of the last request is kept, and a
// path that the parser leaves as it is (plainPath) is not parsed again:
// a guard sees the same host on every request, and the parser's cost is
// mostly allocation, per code point.
func originAndPath(scheme, host, path string) (origin, canonicalPath string, err error) {
	if o := lastOrigin.Load(); o != nil && o.scheme == scheme && o.host == host && plainPath(path) {
		return o.origin, path, nil
	}
	// The '?' ends the path where the query ended it, so that the parser
	// does not trim spaces at the end of the path as the end of its input.
	u, err := whatwg.Parse(scheme + "://" + host + path + "?")
	if err != nil {
		return "", "", errors.New("request scheme, host or port is not valid in a URL")
	}
	if !strings.EqualFold(u.Scheme(), scheme) || !signableScheme(u.Scheme()) {
		return "", "", fmt.Errorf("scheme %q is not http, https, ws, wss or ftp", scheme)
	}
	origin = u.Protocol() + "//" + u.Host()
	lastOrigin.Store(&originEntry{scheme, host, origin})
	return origin, u.Pathname(), nil
}

type originEntry struct{ scheme, host, origin string }

var lastOrigin atomic.Pointer[originEntry]

// plainPath reports whether the URL parser's path state leaves path as it
// is: it starts with '/', has no backslash (a separator in special URLs),
// no dot segment, and no byte the parser percent-encodes.
func plainPath(path string) bool {
	if !strings.HasPrefix(path, "/") {
		return false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c == '\\' || c >= utf8.RuneSelf || whatwg.PathPercentEncodeSet.ByteShouldBeEncoded(c) {
			return false
		}
	}
	return !hasDotSegment(path)
}

var tabOrNewline = strings.NewReplacer("\t", "", "\n", "", "\r", "")

// signableScheme reports whether the WHATWG rules for the host and path
// that canonicalRequest relies on apply: those of the special schemes, file
// excepted (it has no host to sign).
func signableScheme(s string) bool {
	switch s {
	case "http", "https", "ws", "wss", "ftp":
		return true
	}
	return false
}

// canonicalURL does what canonicalRequest does for an absolute URL written
// as scheme://host/path?query#fragment, for Sign. It also returns the path
// and query as written (the request target a client sends, without the
// fragment). User info is an error: it never reaches the server, so a
// signature over it could not be checked.
func canonicalURL(rawURL, param string) (canonical, sig string, found bool, target string, err error) {
	scheme, rest, ok := strings.Cut(strings.TrimFunc(rawURL, c0OrSpace), "://")
	if !ok {
		return "", "", false, "", errors.New("signed_url: not an absolute URL (scheme://host/path)")
	}
	i := strings.IndexAny(rest, `/\?#`)
	if i < 0 {
		i = len(rest)
	}
	host, target := rest[:i], rest[i:]
	if strings.IndexByte(host, '@') >= 0 {
		return "", "", false, "", errors.New("signed_url: URL has user info, which a server never receives")
	}
	canonical, sig, found, err = canonicalRequest(scheme, host, target, param)
	if err != nil {
		return "", "", false, "", fmt.Errorf("signed_url: %w", err)
	}
	target, _, _ = strings.Cut(target, "#")
	return canonical, sig, found, target, nil
}

// c0OrSpace reports whether r is one of what the URL parser strips from
// both ends of its input: C0 controls and space.
func c0OrSpace(r rune) bool { return r <= ' ' }
