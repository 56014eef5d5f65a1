package signedurl

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// vector is one entry of testdata/vectors.json, written by
// testdata/vectors.js: node's canonical form and signature for a URL.
type vector struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Param     string `json:"param"`
	Secret    string `json:"secret"`
	Canonical string `json:"canonical"`
	Signature string `json:"signature"`
	Signed    string `json:"signed"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// nodePath returns node's path, or skips the test when it is not installed.
func nodePath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	return p
}

// TestVectorsAreNodes re-runs the generator and requires the committed
// vectors to be byte for byte what node prints today.
func TestVectorsAreNodes(t *testing.T) {
	node := nodePath(t)
	fresh, err := exec.Command(node, "testdata/vectors.js").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("vectors.js: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	committed, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("testdata/vectors.json differs from `node testdata/vectors.js`; regenerate it")
	}
}

// splitURL cuts an absolute URL the way a server receives it: scheme and
// Host header from the client, the rest on the request line.
func splitURL(t testing.TB, u string) (scheme, host, target string) {
	t.Helper()
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		t.Fatalf("%q: not scheme://...", u)
	}
	i := strings.IndexAny(rest, "/\\?#")
	if i < 0 {
		i = len(rest)
	}
	return scheme, rest[:i], rest[i:]
}

// request builds what the verifier sees for a URL.
func request(t testing.TB, u string) *verify.Input {
	t.Helper()
	scheme, host, target := splitURL(t, u)
	r := &http.Request{Method: http.MethodGet, RequestURI: target, Host: host, URL: &url.URL{}}
	return &verify.Input{Request: r, Scheme: scheme, Host: host}
}

func TestCanonicalVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			scheme, host, target := splitURL(t, v.URL)
			got, _, _, err := canonicalRequest(scheme, host, target, v.Param)
			if err != nil || got != v.Canonical {
				t.Errorf("canonicalRequest(%q, %q, %q) = %q, %v\n node %s", scheme, host, target, got, err, v.Canonical)
			}
			got, _, _, _, err = canonicalURL(v.URL, v.Param)
			if err != nil || got != v.Canonical {
				t.Errorf("canonicalURL(%q) = %q, %v\n node %s", v.URL, got, err, v.Canonical)
			}

			scheme, host, target = splitURL(t, v.Signed)
			got, sig, found, err := canonicalRequest(scheme, host, target, v.Param)
			if err != nil || got != v.Canonical || sig != v.Signature || !found {
				t.Errorf("canonicalRequest(signed %q) = %q, %q, %v, %v\n want %q, %q, true", v.Signed, got, sig, found, err, v.Canonical, v.Signature)
			}
		})
	}
}

// wantReason asserts the outcome a provider would see.
func wantReason(t *testing.T, what string, err error, want verify.Reason) {
	t.Helper()
	var f *verify.Failure
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: rejected (%v), want accepted", what, err)
	case want != "" && err == nil:
		t.Errorf("%s: accepted, want %s", what, want)
	case want != "" && (!errors.As(err, &f) || f.Reason != want):
		t.Errorf("%s: %v, want %s", what, err, want)
	}
}

// pathRejected names the vectors whose path the URL parser rewrites (dot
// segments, backslashes): node signs them, the guard rejects them, because
// the backend would get a path other than the one signed.
var pathRejected = map[string]bool{"dot segments": true, "trailing dot dot": true, "backslash": true}

func TestVerifyVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			ver, err := New(v.Param, []byte(v.Secret))
			if err != nil {
				t.Fatal(err)
			}
			check := func(what, u string, want verify.Reason) {
				t.Helper()
				wantReason(t, what+" "+u, ver.Verify(request(t, u), &verify.Output{}), want)
			}
			if pathRejected[v.Name] {
				check("signed by node, path rewritten by the parser", v.Signed, verify.ReasonInvalidSignature)
				return
			}
			check("signed by node", v.Signed, "")
			check("tampered value", tamperValue(t, v.Signed, v.Param), verify.ReasonInvalidSignature)
			check("changed path", changePath(t, v.Signed), verify.ReasonInvalidSignature)
			check("missing sig", withSig(t, v.Signed, v.Param, nil), verify.ReasonMissingSignature)
			check("empty sig", withSig(t, v.Signed, v.Param, func(string) string { return "" }), verify.ReasonMissingSignature)
			check("bad hex", withSig(t, v.Signed, v.Param, func(s string) string { return "zz" + s[2:] }), verify.ReasonInvalidSignature)
			check("short sig", withSig(t, v.Signed, v.Param, func(s string) string { return s[:62] }), verify.ReasonInvalidSignature)
			check("other sig", withSig(t, v.Signed, v.Param, func(s string) string { return strings.Repeat("0", 64) }), verify.ReasonInvalidSignature)

			wrong, err := New(v.Param, []byte(v.Secret+"!"))
			if err != nil {
				t.Fatal(err)
			}
			wantReason(t, "wrong secret", wrong.Verify(request(t, v.Signed), &verify.Output{}), verify.ReasonInvalidSignature)
		})
	}
}

// TestSignVectors: Sign appends the signature exactly as the generator
// (standing in for Glopal) does, and refuses URLs that already carry it or
// that the guard rejects.
func TestSignVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			got, err := Sign(v.URL, v.Param, []byte(v.Secret))
			if strings.Contains(v.URL, "{{sig}}") || pathRejected[v.Name] {
				if err == nil {
					t.Errorf("Sign(%q) = %q, want an error: param already present, or a path the guard rejects", v.URL, got)
				}
				return
			}
			if err != nil || got != v.Signed {
				t.Errorf("Sign(%q) = %q, %v\n node %q", v.URL, got, err, v.Signed)
			}
		})
	}
}

// query splits a URL into what precedes the query, the raw query
// sequences, and the fragment.
func query(u string) (base string, seqs []string) {
	base, q, ok := strings.Cut(u, "?")
	if !ok {
		return u, nil
	}
	return base, strings.Split(q, "&")
}

func rawName(seq string) string {
	n, _, _ := strings.Cut(seq, "=")
	d, err := url.QueryUnescape(n)
	if err != nil {
		return n
	}
	return d
}

func join(base string, seqs []string) string {
	if len(seqs) == 0 {
		return base
	}
	return base + "?" + strings.Join(seqs, "&")
}

// tamperValue prefixes "0" to the value of the first parameter other than
// param (which always changes its decoded value), or adds a parameter if
// there is none.
func tamperValue(t *testing.T, u, param string) string {
	base, seqs := query(u)
	for i, s := range seqs {
		if s == "" || rawName(s) == param {
			continue
		}
		if n, val, ok := strings.Cut(s, "="); ok {
			seqs[i] = n + "=0" + val
		} else {
			seqs[i] = s + "=0"
		}
		return join(base, seqs)
	}
	return join(base, append(seqs, "tampered=1"))
}

// changePath reverses the path's segments, or prefixes one when that does
// not change the canonical form.
func changePath(t *testing.T, u string) string {
	scheme, host, target := splitURL(t, u)
	path, q, hasQ := strings.Cut(target, "?")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	np := "/" + strings.Join(segs, "/")
	before, _, _, _ := canonicalRequest(scheme, host, path, "sig")
	after, _, _, _ := canonicalRequest(scheme, host, np, "sig")
	if before == after {
		np = "/changed" + path
	}
	if hasQ {
		np += "?" + q
	}
	return scheme + "://" + host + np
}

// withSig rewrites the first param value (the one the verifier reads) with
// f, or drops every occurrence when f is nil.
func withSig(t *testing.T, u, param string, f func(string) string) string {
	base, seqs := query(u)
	var out []string
	first := true
	for _, s := range seqs {
		if rawName(s) != param {
			out = append(out, s)
			continue
		}
		if f == nil {
			continue
		}
		if first {
			n, val, _ := strings.Cut(s, "=")
			s = n + "=" + f(val)
			first = false
		}
		out = append(out, s)
	}
	return join(base, out)
}
