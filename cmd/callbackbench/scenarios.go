package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
)

// scenarioNames are the scenarios in their default order.
var scenarioNames = []string{"plain", "headers", "header_secret", "basic_auth", "signed_url", "hmac_stripe", "jwt_rs256", "memory", "redis"}

func isScenario(name string) bool {
	for _, n := range scenarioNames {
		if n == name {
			return true
		}
	}
	return false
}

// The credentials of the guarded routes.
const (
	secretHeader = "X-Shop-Secret"
	secretValue  = "bench-header-secret-4f1c2a9e7b6d3058"
	basicUser    = "bench"
	basicPass    = "bench-password-9d2e61c0a7f4b835"
	signedParam  = "sig"
	signedSecret = "bench-signed-url-secret-3a7c90e1d4b2"
	jwtKeyID     = "k1"
	stripeSecret = "whsec_bench_5b0e93c1d7a2f486e0c3b9a1"
)

var basicAuthValue = "Basic " + base64.StdEncoding.EncodeToString([]byte(basicUser+":"+basicPass))

// sevenHeaders are what the headers scenario adds with header_up: the
// seven X-Callback-* headers the guard can set, with values of the same
// sizes as the guard's.
var sevenHeaders = [][2]string{
	{"X-Callback-Provider", "generic"},
	{"X-Callback-Verified", "header_secret"},
	{"X-Callback-Id", "evt_000000000001"},
	{"X-Callback-Attempt", "1"},
	{"X-Callback-Event", "order.paid"},
	{"X-Callback-Outcome", "success"},
	{"X-Callback-Deadline", "2026-11-21T09:00:10.000Z"},
}

// scenario is one Caddy site and the requests that load it.
type scenario struct {
	name   string
	port   int
	preset string   // of the guard; "": generic
	guard  []string // the lines inside callback_guard <preset> { }; none: no guard
	proxy  []string // the lines inside reverse_proxy { }
	// next is the sequence number of the next delivery: every request of
	// the run, warm-up and probes included, gets its own.
	next uint64
	// bestRate is the highest rate seen, to size the next window's requests.
	bestRate float64
	rounds   []windowResult // the counted rounds, in round order
}

func (s *scenario) guarded() bool { return len(s.guard) > 0 }

// newScenario sets up the site of a scenario; redisURL is the store of the
// redis scenario.
func newScenario(name, keyFile, redisURL string) *scenario {
	s := &scenario{name: name}
	secret := "header_secret " + secretHeader + " " + secretValue
	switch name {
	case "headers":
		for _, h := range sevenHeaders {
			s.proxy = append(s.proxy, "header_up "+h[0]+" "+h[1])
		}
	case "header_secret":
		s.guard = []string{secret}
	case "basic_auth":
		s.guard = []string{"basic_auth " + basicUser + " " + basicPass}
	case "signed_url":
		s.guard = []string{"signed_url " + signedParam + " " + signedSecret}
	case "hmac_stripe":
		// The signature alone: no dedupe, as in the other credential scenarios.
		s.preset, s.guard = "stripe", []string{"hmac " + stripeSecret, "dedupe off"}
	case "jwt_rs256":
		s.guard = []string{"jwt {", "\tkey " + jwtKeyID + " " + keyFile, "\talgs RS256", "}"}
	case "memory":
		s.guard = []string{secret, "dedupe {json.id}", "dedupe_ttl 10m", "store memory"}
	case "redis":
		// 10m: the answers of a run against a Redis of the user's
		// (--redis-addr) do not stay for a day.
		s.guard = []string{secret, "dedupe {json.id}", "dedupe_ttl 10m", "store redis " + redisURL}
	}
	return s
}

// site is the scenario's Caddyfile site block.
func (s *scenario) site(upstream string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nhttp://127.0.0.1:%d {\n", s.name, s.port)
	if s.guarded() {
		preset := s.preset
		if preset == "" {
			preset = "generic"
		}
		b.WriteString("\tcallback_guard " + preset + " {\n")
		for _, l := range s.guard {
			b.WriteString("\t\t" + l + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("\treverse_proxy " + upstream)
	if len(s.proxy) > 0 {
		b.WriteString(" {\n")
		for _, l := range s.proxy {
			b.WriteString("\t\t" + l + "\n")
		}
		b.WriteString("\t}")
	}
	b.WriteString("\n}\n")
	return b.String()
}

// item is one prepared request: everything that costs CPU to make is made
// before the window starts.
type item struct {
	url       *url.URL
	hdr, auth string // the credential header and value; "" for none
	body      []byte
}

// bodyOf is the JSON body of delivery seq; every scenario sends the same
// shape, of the same length.
func bodyOf(seq uint64) []byte {
	b := make([]byte, 0, 80)
	b = append(b, `{"id":"evt_`...)
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], seq, 10)
	for range 12 - len(d) {
		b = append(b, '0')
	}
	b = append(b, d...)
	return append(b, `","type":"order.paid","amount":4200}`...)
}

// prepare makes n deliveries of s for one connection (of the warm-up when
// warm).
func (b *bench) prepare(s *scenario, n int, warm bool) ([]item, error) {
	items := make([]item, n)
	base := fmt.Sprintf("http://127.0.0.1:%d", s.port)
	var tokens []string
	var err error
	if s.name == "jwt_rs256" {
		if tokens, err = b.tokens.take(n, warm); err != nil {
			return nil, err
		}
	}
	for i := range items {
		seq := s.next
		s.next++
		u, err := signedURL(base, seq)
		if err != nil {
			return nil, err
		}
		it := item{url: u, body: bodyOf(seq)}
		switch s.name {
		case "header_secret", "memory", "redis":
			it.hdr, it.auth = secretHeader, secretValue
		case "basic_auth":
			it.hdr, it.auth = "Authorization", basicAuthValue
		case "jwt_rs256":
			it.hdr, it.auth = "Authorization", tokens[i]
		case "hmac_stripe":
			it.hdr, it.auth = "Stripe-Signature", stripeSignature(it.body, time.Now())
		}
		items[i] = it
	}
	return items, nil
}

// signedURL is the target of delivery seq in every scenario: a Glopal
// confirmation URL signed for the signed_url route. Every route gets the
// same request line, so that what the signed_url route is compared with
// forwards the same bytes, and only the guard's checking of them counts.
func signedURL(base string, seq uint64) (*url.URL, error) {
	raw := fmt.Sprintf("%s/confirmation/DE/ORD-%012d?lang=de-DE&currency=EUR", base, seq)
	signed, err := signedurl.Sign(raw, signedParam, []byte(signedSecret))
	if err != nil {
		return nil, err
	}
	return url.Parse(signed)
}

// stripeSignature is the Stripe-Signature header of body, as Stripe signs.
func stripeSignature(body []byte, now time.Time) string {
	t := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte(stripeSecret))
	m.Write([]byte(t + "."))
	m.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// tokenPool holds "Bearer <RS256 token>" values, each with its own id,
// signed before the windows that use them. Counted windows take fresh
// tokens and give back the ones they did not send, so every token is sent
// once. The warm-up, and every window with --jwt-tokens N, use a fixed set
// in turn instead: the jwt route has no dedupe and the guard caches
// nothing per token, so a token's second use costs what its first did.
type tokenPool struct {
	key    *rsa.PrivateKey
	limit  int
	fresh  []string // signed, never sent
	ring   []string // --jwt-tokens: used in turn
	warm   []string // the warm-up's: used in turn
	cursor int      // next of ring or warm
	made   int      // tokens signed
	sent   int      // fresh tokens sent in counted windows
	// signing is the time spent signing, all before windows.
	signing time.Duration
}

// warmTokens is the size of the warm-up's set.
const warmTokens = 256

// newTokenPool makes an RSA-2048 key and writes its public half, as PEM,
// to dir; it returns the file.
func newTokenPool(dir string, limit int) (*tokenPool, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, "", err
	}
	file := filepath.Join(dir, jwtKeyID+"_bench.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		return nil, "", err
	}
	return &tokenPool{key: key, limit: limit}, file, nil
}

// take returns n tokens for one connection's window.
func (p *tokenPool) take(n int, warm bool) ([]string, error) {
	set := &p.ring
	size := p.limit
	if warm {
		set, size = &p.warm, warmTokens
	}
	if warm || p.limit > 0 {
		if len(*set) < size {
			more, err := p.sign(size - len(*set))
			if err != nil {
				return nil, err
			}
			*set = append(*set, more...)
		}
		out := make([]string, n)
		for i := range out {
			out[i] = (*set)[p.cursor%len(*set)]
			p.cursor++
		}
		return out, nil
	}
	if len(p.fresh) < n {
		more, err := p.sign(n - len(p.fresh))
		if err != nil {
			return nil, err
		}
		p.fresh = append(p.fresh, more...)
	}
	out := p.fresh[len(p.fresh)-n:]
	p.fresh = p.fresh[:len(p.fresh)-n]
	return slices.Clone(out), nil
}

// giveBack returns the fresh tokens a window did not send.
func (p *tokenPool) giveBack(tokens []string) {
	p.fresh = append(p.fresh, tokens...)
}

// sign makes n new tokens, on every core.
func (p *tokenPool) sign(n int) ([]string, error) {
	began := time.Now()
	out := make([]string, n)
	first := p.made
	p.made += n
	now := time.Now()
	workers := runtime.NumCPU()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
					"id":   fmt.Sprintf("evt_%012d", first+i),
					"type": "order.paid",
					"iat":  now.Unix(),
					"exp":  now.Add(6 * time.Hour).Unix(),
				})
				tok.Header["kid"] = jwtKeyID
				s, err := tok.SignedString(p.key)
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = "Bearer " + s
			}
		}()
	}
	wg.Wait()
	p.signing += time.Since(began)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
