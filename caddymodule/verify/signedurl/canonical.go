package signedurl

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"unicode/utf8"
)

// state is the working memory of one canonicalization. It is pooled so that
// verifying a request allocates nothing once the pool is warm.
type state struct {
	out     []byte // the canonical URL being built
	scratch []byte // decoded query names and values (valid UTF-8)
	tmp     []byte // repair buffer for the rare invalid UTF-8 / tab / newline
	tuples  []tuple
	tuples2 []tuple // merge buffer for long queries

	found      bool // param was present
	sig0, sig1 int  // its first value, in scratch

	mac  hash.Hash // keyed HMAC-SHA256, only in a Verifier's pool
	sum  [sha256.Size]byte
	want [sha256.Size]byte
}

// maxPooled bounds the buffers a pooled state keeps, so that one huge URL
// does not pin its memory for the life of the process.
const maxPooled = 64 << 10

var statePool = sync.Pool{New: func() any { return new(state) }}

func putState(p *sync.Pool, s *state) {
	if cap(s.out) > maxPooled || cap(s.scratch) > maxPooled || cap(s.tmp) > maxPooled ||
		cap(s.tuples) > maxPooled/16 || cap(s.tuples2) > maxPooled/16 {
		s.out, s.scratch, s.tmp, s.tuples, s.tuples2 = nil, nil, nil, nil, nil
	}
	p.Put(s)
}

func (s *state) reset() {
	s.out, s.scratch, s.tuples = s.out[:0], s.scratch[:0], s.tuples[:0]
	s.found, s.sig0, s.sig1 = false, 0, 0
}

func (s *state) sig() []byte { return s.scratch[s.sig0:s.sig1] }

// Canonical returns the string Glopal signs for a request whose client-side
// scheme and host (host[:port]) are given and whose request target (the
// path and query as on the request line) is requestURI, and the value of
// param (the hex signature) if present.
//
// The canonical string is node's
//
//	u = new URL(url); u.searchParams.delete(param); u.searchParams.sort(); u.toString()
//
// without the fragment, which never reaches a server. Canonical never
// fails: for a URL node would refuse (bad scheme, host or port) it returns
// a best-effort string that no signature can match.
func Canonical(scheme, host, requestURI, param string) (canonical string, sig string, found bool) {
	s := statePool.Get().(*state)
	defer putState(&statePool, s)
	s.build(scheme, host, requestURI, param)
	return string(s.out), string(s.sig()), s.found
}

// CanonicalURL does what Canonical does from an absolute URL string, for
// signing tools and tests. It reports an error where node's URL parser
// would throw, for user info (it never reaches the server, so a signature
// over it could never be checked), for schemes other than http, https, ws,
// wss and ftp, and for non-ASCII host names (give them in punycode). A
// fragment is dropped, as the server never sees it.
func CanonicalURL(rawURL, param string) (canonical string, sig string, found bool, err error) {
	s := statePool.Get().(*state)
	defer putState(&statePool, s)
	u := s.clean(strings.TrimLeft(rawURL, c0OrSpace))
	n := schemeLen(u)
	if n == 0 {
		return "", "", false, errors.New("signed_url: not an absolute URL")
	}
	scheme := u[:n]
	authority, rest := splitAuthority(u[n+1:])
	if strings.IndexByte(authority, '@') >= 0 {
		return "", "", false, errors.New("signed_url: URL has user info, which a server never receives")
	}
	s.reset()
	var def int
	var ok bool
	s.out, def, ok = appendScheme(s.out, scheme)
	if !ok {
		return "", "", false, fmt.Errorf("signed_url: scheme %q is not http, https, ws, wss or ftp", scheme)
	}
	s.out = append(s.out, "://"...)
	if s.out, ok = appendHost(s.out, authority, def); !ok {
		return "", "", false, fmt.Errorf("signed_url: invalid host or port %q (non-ASCII names must be in punycode)", authority)
	}
	s.appendTarget(rest, param)
	return string(s.out), string(s.sig()), s.found, nil
}

// build writes the canonical URL into s.out and finds param's first value.
// It reports false when node's URL parser would have thrown on the URL, so
// that nothing can have been signed for it.
func (s *state) build(scheme, host, target, param string) bool {
	s.reset()
	var def int
	var schemeOK, hostOK bool
	s.out, def, schemeOK = appendScheme(s.out, scheme)
	s.out = append(s.out, "://"...)
	s.out, hostOK = appendHost(s.out, host, def)
	s.appendTarget(target, param)
	return schemeOK && hostOK
}

// appendTarget appends the canonical path and query of a request target.
// An absolute-form target (a proxy request, "http://host/path") is reduced
// to its path and query: the host is the caller's to choose.
func (s *state) appendTarget(target, param string) {
	target = s.clean(target)
	if target != "" && target[0] != '/' && target[0] != '\\' && target[0] != '?' && target[0] != '#' {
		if n := schemeLen(target); n > 0 {
			_, target = splitAuthority(target[n+1:])
		}
	}
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	path, query := target, ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i+1:]
	}
	s.out = appendPath(s.out, path)
	s.parseQuery(query, param)
	s.sortTuples()
	s.appendQuery()
}

// c0OrSpace is what the URL parser strips from both ends of its input.
const c0OrSpace = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "

// clean applies the URL parser's input cleanup to the end of a URL: it
// strips trailing C0 controls and spaces and removes every tab, CR and LF.
// Bytes are read as UTF-8, invalid sequences becoming U+FFFD, which is what
// a JavaScript string made from them holds. The common case (nothing to
// do) allocates nothing.
func (s *state) clean(t string) string {
	for len(t) > 0 && t[len(t)-1] <= ' ' {
		t = t[:len(t)-1]
	}
	dirty := false
	for i := 0; i < len(t); i++ {
		if c := t[i]; c == '\t' || c == '\n' || c == '\r' || c >= utf8.RuneSelf {
			dirty = true
			break
		}
	}
	if !dirty {
		return t
	}
	hasTabNL := strings.ContainsAny(t, "\t\n\r")
	valid := utf8.ValidString(t)
	if !hasTabNL && valid {
		return t
	}
	s.tmp = s.tmp[:0]
	if valid {
		s.tmp = append(s.tmp, t...)
	} else {
		s.tmp = appendRepairedUTF8(s.tmp, t)
	}
	if hasTabNL {
		j := 0
		for _, c := range s.tmp {
			if c != '\t' && c != '\n' && c != '\r' {
				s.tmp[j] = c
				j++
			}
		}
		s.tmp = s.tmp[:j]
	}
	return string(s.tmp)
}

// schemeLen returns the index of the ':' ending a leading URL scheme
// (ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")), or 0 if there is none.
func schemeLen(u string) int {
	if u == "" || !isAlpha(u[0]) {
		return 0
	}
	for i := 1; i < len(u); i++ {
		c := u[i]
		switch {
		case c == ':':
			return i
		case isAlpha(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.':
		default:
			return 0
		}
	}
	return 0
}

func isAlpha(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

// splitAuthority takes what follows "scheme:" in a special URL: the parser
// skips any run of '/' and '\' (so "http:a", "http:\\a" and "http:///a"
// all name host a), and the authority runs to the next '/', '\', '?' or '#'.
func splitAuthority(u string) (authority, rest string) {
	i := 0
	for i < len(u) && (u[i] == '/' || u[i] == '\\') {
		i++
	}
	u = u[i:]
	for i = 0; i < len(u); i++ {
		if c := u[i]; c == '/' || c == '\\' || c == '?' || c == '#' {
			break
		}
	}
	return u[:i], u[i:]
}

// appendPath appends the WHATWG path serialization of a special URL's raw
// path: '\' separates segments like '/', "." and ".." segments (also
// spelled %2e, in any case) are resolved, bytes in the path percent-encode
// set are escaped and existing %XX are kept as written. The output is
// always "/" followed by the segments joined by "/", so "" becomes "/".
func appendPath(dst []byte, p string) []byte {
	start := len(dst)
	i := 0
	if p != "" && (p[0] == '/' || p[0] == '\\') {
		i = 1 // the path start state consumes one separator
	}
	for {
		j := i
		for j < len(p) && p[j] != '/' && p[j] != '\\' {
			j++
		}
		seg, last := p[i:j], j >= len(p)
		switch {
		case isDoubleDot(seg):
			// Remove the last segment; a trailing ".." leaves an empty one.
			if k := lastSlash(dst[start:]); k >= 0 {
				dst = dst[:start+k]
			}
			if last {
				dst = append(dst, '/')
			}
		case isSingleDot(seg):
			if last {
				dst = append(dst, '/')
			}
		default:
			dst = append(dst, '/')
			for len(seg) > 0 {
				k := 0
				for k < len(seg) && !pathEncode[seg[k]] {
					k++
				}
				dst = append(dst, seg[:k]...)
				if k == len(seg) {
					break
				}
				c := seg[k]
				dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
				seg = seg[k+1:]
			}
		}
		if last {
			return dst
		}
		i = j + 1
	}
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

func isSingleDot(s string) bool {
	return s == "." || len(s) == 3 && isPct2e(s)
}

func isDoubleDot(s string) bool {
	switch len(s) {
	case 2:
		return s == ".."
	case 4:
		return s[0] == '.' && isPct2e(s[1:]) || isPct2e(s[:3]) && s[3] == '.'
	case 6:
		return isPct2e(s[:3]) && isPct2e(s[3:])
	}
	return false
}

func isPct2e(s string) bool { return s[0] == '%' && s[1] == '2' && s[2]|0x20 == 'e' }

// pathEncode is node 20's path percent-encode set: C0 controls, space, '"',
// '#', '<', '>', '?', '`', '{', '}' and every byte of a non-ASCII
// character. ('^' and '|' are not in it.)
var pathEncode = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for c := 0x7F; c < 0x100; c++ {
		t[c] = true
	}
	for _, c := range " \"#<>?`{}" {
		t[c] = true
	}
	return t
}()
