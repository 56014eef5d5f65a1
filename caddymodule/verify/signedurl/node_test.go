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

// TestNodeDifferential compares canonicalRequest with node on thousands of
// random URLs: same canonical string, same signature value and presence,
// and a URL node refuses is one the verifier refuses too; with the origin
// parsed afresh and with it remembered from the request before.
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
	bad, refused := 0, 0
	defer func() { t.Logf("%d URLs, %d refused by node", len(cs), refused) }()
	for i, c := range cs {
		got, sig, found, err := canonicalRequest(c.scheme, c.host, c.target, c.param)
		// Again, now that the origin is the last one seen: the path may
		// then bypass the parser (plainPath), and must come out the same.
		if again, _, _, err2 := canonicalRequest(c.scheme, c.host, c.target, c.param); again != got || (err2 == nil) != (err == nil) {
			t.Errorf("%q: %q (%v), then %q (%v)", qs[i].URL, got, err, again, err2)
		}
		want := rs[i]
		switch {
		case want.Error != "" && err == nil:
			t.Errorf("%q: node refuses it (%s) but canonicalRequest accepts it as %q", qs[i].URL, want.Error, got)
		case want.Error != "":
			refused++
			continue
		case err != nil:
			t.Errorf("%q: node accepts it as %q, canonicalRequest refuses it: %v", qs[i].URL, want.Canonical, err)
		case got != want.Canonical || sig != want.Sig || found != want.Has:
			t.Errorf("%q param %q:\n got  %q sig %q found %v\n node %q sig %q has %v",
				qs[i].URL, c.param, got, sig, found, want.Canonical, want.Sig, want.Has)
		default:
			// canonicalURL must agree when given the whole URL.
			cu, _, _, _, err := canonicalURL(qs[i].URL, c.param)
			if err != nil || cu != want.Canonical {
				t.Errorf("canonicalURL(%q) = %q, %v; node %q", qs[i].URL, cu, err, want.Canonical)
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

// TestNodeHosts compares the host part with node on internationalized,
// percent-encoded and malformed hosts, which the random URLs do not
// cover. Hosts that cannot be a Host header in a URL (user info, a path or
// fragment after the host) are refused before parsing; a few IDNA labels
// that node's UTS #46 accepts and golang.org/x/net/idna does not (the bidi
// rule on a digit-only label, a punycode label ending in '-') are refused:
// the guard then rejects a URL node would have signed, never the reverse.
func TestNodeHosts(t *testing.T) {
	hosts := []string{
		"bücher.example", "BÜCHER.example", "b%C3%BCcher.example", "xn--bcher-kva.example", "xn--a", "xn--", "xn--zz.com",
		"faß.de", "straße", "a\u00adb.com", "ＡＢＣ.com", "a。b", "a\u3002b\uff0ec", "%E3%80%82", "\u200d.com", "xn--4ca", "é",
		"%C3%A9", "%ff.com", "%e2%82.com", "🙂.com", "xn--ls8h.com", "a\u0080b", "A\u212Ab", "ǅ.com", "日本語.jp", "%E6%97%A5.jp",
		"a%00b", "a b", "a\x01b", "a%20b", "a%25", "%", "a%", "%41%42", "a%2fb", "a%40b", "_.com", "a_b", "-", "...", "a..",
		"1.2.3", "0", "0.0.0.0", "0x100000000", "999999999999", "[::]", "[::1]:", "[::1]:00", "[fe80::1%25lo]",
		"localhost:8080", "LOCALHOST:0", "h:65535", "h:1\t2",
	}
	stricterThanNode := map[string]bool{"\u0661.com": true, "a.\u0661": true, "xn--ab-.com": true}
	refusedFirst := []string{"a@b", "a:b@c", "a/b", "a?b", "a#b", `a\b`, ""}
	for h := range stricterThanNode {
		hosts = append(hosts, h)
	}
	qs := make([]nodeQuery, len(hosts))
	for i, h := range hosts {
		qs[i] = nodeQuery{URL: "https://" + h + "/p?sig=1", Param: "sig"}
	}
	for i, want := range askNode(t, qs) {
		got, _, _, err := canonicalRequest("https", hosts[i], "/p?sig=1", "sig")
		switch {
		case stricterThanNode[hosts[i]]:
			if want.Error != "" || err == nil {
				t.Errorf("%q: node %q %s; canonicalRequest %q %v; want node to accept and canonicalRequest to refuse", hosts[i], want.Canonical, want.Error, got, err)
			}
		case (want.Error != "") != (err != nil) || got != want.Canonical:
			t.Errorf("%q: canonicalRequest %q %v; node %q %s", hosts[i], got, err, want.Canonical, want.Error)
		}
	}
	for _, h := range refusedFirst {
		if got, _, _, err := canonicalRequest("https", h, "/p", "sig"); err == nil {
			t.Errorf("canonicalRequest with host %q = %q, want an error", h, got)
		}
	}
}
