package signedurl

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// nodeResult is what testdata/check.js reports for one URL.
type nodeResult struct {
	Canonical string `json:"canonical"`
	Has       bool   `json:"has"`
	Sig       string `json:"sig"`
	Valid     *bool  `json:"valid"`
	Error     string `json:"error"`
}

type nodeQuery struct {
	URL    string `json:"url"`
	Param  string `json:"param"`
	Secret string `json:"secret,omitempty"`
}

// askNode runs testdata/check.js over qs in one process.
func askNode(t *testing.T, qs []nodeQuery) []nodeResult {
	t.Helper()
	node := nodePath(t)
	in, err := json.Marshal(qs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "testdata/check.js")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.js: %v\n%s", err, stderr.Bytes())
	}
	var rs []nodeResult
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(qs) {
		t.Fatalf("check.js answered %d of %d", len(rs), len(qs))
	}
	return rs
}

// Pieces the random URLs are made of: everything the canonical form is
// sensitive to, many of them at once.
var (
	diffSchemes = []string{"http", "https", "HTTP", "HtTpS", "ws", "wss", "ftp"}
	diffHosts   = []string{
		"shop.example.com", "Shop.Example.COM", "a.com:80", "a.com:443", "a.com:8080", "a.com:", "a.com:0080",
		"a.com:00000", "a.com:65535", "a.com:65536", "a.com:8x", "a.com:-1", "127.1", "0x7f.0.0.1", "0x7F.1:80",
		"1.2.3.4.", "1.2.3.4.5", "256.1", "4294967295", "4294967296", "09", "0x", "a.0x", "a.1", "1.a",
		"[::1]", "[::FFFF:1.2.3.4]", "[2001:DB8:0:0:1:0:0:1]", "[0:0:1:0:0:1:0:0]", "[1:2:3:4:5:6:7::]",
		"[::1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8::]", "[::01.2.3.4]", "[1.2.3.4]", "[::1%25eth0]", "[::1]:8080",
		"[::1]:80", "[::1", "xn--4ca.com", "XN--4CA.COM", "a..b", "a_b.com", "a%2Ecom", "a%25b", "a^b", "a|b",
		"a<b", "A%41.com", ".", "..", "a.", "-a-.com", "a*b", "a!b", "a$b", "a'b",
	}
	diffTokens = []string{
		"a", "B", "z", "0", "/", "/", "/", "\\", ".", "..", "%2e", "%2E", "%2f", "%2F", "%", "%4", "%zz", "%41",
		"%7e", "%7E", "%2A", "%20", "%FF", "%C3%A9", "%E2%82", "%F0%9F%98%80", "%EF%BF%BF", "%EE%80%80", "%ED%A0%80",
		"?", "?", "&", "&", "&", "=", "=", "+", " ", "~", "*", "!", "'", "(", ")", "é", "😀", "\uE000", "\uFFFD", "ａ",
		"\t", "\n", "\r", "\x01", "\x7f", "\"", "<", ">", "`", "{", "}", "|", "^", "[", "]", "@", ":", ";", ",", "$",
		"sig", "sig=", "sig=ab", "s%69g=", "SIG=", "a=1", "b=2", "A=3", "_", "-",
	}
	diffParams = []string{"sig", "sig", "sig", "a", "é", "s i"}
)

type diffCase struct {
	scheme, host, target, param string
}

func randomCases(n int) []diffCase {
	r := rand.New(rand.NewPCG(1, 2))
	cs := make([]diffCase, n)
	for i := range cs {
		var b strings.Builder
		b.WriteByte('/')
		for k := r.IntN(16); k > 0; k-- {
			b.WriteString(diffTokens[r.IntN(len(diffTokens))])
		}
		cs[i] = diffCase{
			scheme: diffSchemes[r.IntN(len(diffSchemes))],
			host:   diffHosts[r.IntN(len(diffHosts))],
			target: b.String(),
			param:  diffParams[r.IntN(len(diffParams))],
		}
	}
	return cs
}

// TestNodeDifferential compares Canonical with node on thousands of random
// URLs: same canonical string, same signature value and presence, and a
// URL node refuses is one the verifier refuses too.
func TestNodeDifferential(t *testing.T) {
	nodePath(t)
	cs := randomCases(20000)
	if testing.Short() {
		cs = cs[:2000]
	}
	qs := make([]nodeQuery, len(cs))
	for i, c := range cs {
		qs[i] = nodeQuery{URL: c.scheme + "://" + c.host + c.target, Param: c.param}
	}
	rs := askNode(t, qs)
	s := new(state)
	bad, refused := 0, 0
	defer func() { t.Logf("%d URLs, %d refused by node", len(cs), refused) }()
	for i, c := range cs {
		ok := s.build(c.scheme, c.host, c.target, c.param)
		got, sig := string(s.out), string(s.sig())
		want := rs[i]
		switch {
		case want.Error != "" && ok:
			t.Errorf("%q: node refuses it (%s) but build accepts it as %q", qs[i].URL, want.Error, got)
		case want.Error != "":
			refused++
			continue
		case !ok:
			t.Errorf("%q: node accepts it as %q, build refuses it", qs[i].URL, want.Canonical)
		case got != want.Canonical || sig != want.Sig || s.found != want.Has:
			t.Errorf("%q param %q:\n got  %q sig %q found %v\n node %q sig %q has %v",
				qs[i].URL, c.param, got, sig, s.found, want.Canonical, want.Sig, want.Has)
		default:
			// CanonicalURL must agree when given the whole URL.
			cu, _, _, err := CanonicalURL(qs[i].URL, c.param)
			if err != nil || cu != want.Canonical {
				t.Errorf("CanonicalURL(%q) = %q, %v; node %q", qs[i].URL, cu, err, want.Canonical)
			}
			continue
		}
		if bad++; bad > 20 {
			t.Fatal("too many differences")
		}
	}
}

// TestSignVerifiesUnderNode: what Sign produces, node's reading of the
// contract accepts, for the vectors and for random URLs.
func TestSignVerifiesUnderNode(t *testing.T) {
	nodePath(t)
	secret := "s3cr3t-for-node"
	var qs []nodeQuery
	var urls []string
	for _, v := range loadVectors(t) {
		urls = append(urls, v.URL)
	}
	for _, c := range randomCases(3000) {
		urls = append(urls, c.scheme+"://"+c.host+c.target)
	}
	for _, u := range urls {
		signed, err := Sign(u, "sig", []byte(secret))
		if err != nil {
			continue // already has sig, or a URL node would refuse too
		}
		qs = append(qs, nodeQuery{URL: signed, Param: "sig", Secret: secret})
	}
	if len(qs) < 500 {
		t.Fatalf("only %d URLs could be signed", len(qs))
	}
	t.Logf("%d signed URLs", len(qs))
	for i, r := range askNode(t, qs) {
		if r.Error != "" || r.Valid == nil || !*r.Valid {
			t.Errorf("node does not accept Sign's %q: %+v", qs[i].URL, r)
		}
	}
}
