package cli

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/config"
)

// delivery is one signed test request.
type delivery struct {
	method string
	url    string
	header [][2]string // in order, Host excluded
	body   []byte
	// basicUser and basicPass are printed as curl -u.
	basicUser, basicPass string
	basic                bool
	// token is the JWT, when one was signed.
	token string
	// host overrides the Host header (--header 'Host: ...').
	host string
}

func (d *delivery) setHeader(name, value string) {
	if strings.EqualFold(name, "Host") {
		d.host = value
		return
	}
	for i := range d.header {
		if strings.EqualFold(d.header[i][0], name) {
			d.header[i][1] = value
			return
		}
	}
	d.header = append(d.header, [2]string{name, value})
}

func (d *delivery) getHeader(name string) string {
	for _, h := range d.header {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// builder carries a delivery through the steps of buildDelivery.
type builder struct {
	f        *signFlags
	preset   *config.Preset
	in       config.SampleInput
	d        delivery
	url      string // the URL as it is built, before the signature
	custom   bool   // the body is the user's, not the sample
	tokenIn  config.TokenSource
	warnings []string
}

// buildDelivery makes the delivery the flags describe, and warnings about
// it. Errors are usage errors.
func buildDelivery(args []string, f *signFlags, stdin io.Reader) (*delivery, []string, error) {
	b := &builder{f: f}
	for _, step := range []func() error{
		func() error { return b.start(args) },
		func() error { return b.readBody(stdin) },
		b.signToken,
		b.sampleBody,
		b.sampleHeaders,
		b.setHeaders,
		b.setURL,
		b.signHMAC,
	} {
		if err := step(); err != nil {
			return nil, nil, err
		}
	}
	if f.basicAuth == "" && f.querySecret == "" && f.headerSecret == "" && f.signedURL == "" && b.d.token == "" && f.secret == "" {
		b.warnings = append(b.warnings, "no credentials given (--secret, --basic-auth, --query-secret, --header-secret, --signed-url, --jwt-key, --jwt-secret): the guard will answer 401")
	}
	return &b.d, b.warnings, nil
}

// start checks the preset, the URL and the flags that exclude each other.
func (b *builder) start(args []string) error {
	f := b.f
	if len(args) == 0 {
		return usagef("missing preset: want one of %s", strings.Join(config.PresetNames, ", "))
	}
	if len(args) > 1 {
		return usagef("unexpected argument %q after the preset", args[1])
	}
	p, ok := config.LookupPreset(args[0])
	if !ok {
		return usagef("unknown preset %q: want one of %s", args[0], strings.Join(config.PresetNames, ", "))
	}
	b.preset = p
	if f.to == "" {
		return usagef("missing --to <url>: the callback URL (e.g. http://localhost:8080/%s/callback)", p.Name)
	}
	u, err := url.Parse(strings.TrimSpace(f.to))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--to %q: want an absolute http:// or https:// URL", f.to)
	}
	b.url, _, _ = strings.Cut(strings.TrimSpace(f.to), "#") // a fragment is never sent
	now := time.Now()
	if f.at != "" {
		if now, err = parseTime(f.at); err != nil {
			return usagef("--time: %v", err)
		}
	}
	b.in = config.SampleInput{Event: f.event, ID: f.id, Time: now.UTC().Truncate(time.Second)}
	if b.in.Event == "" {
		b.in.Event = p.Sample.Event
	}
	if b.in.ID == "" {
		b.in.ID = randomID(p)
	}
	if f.body != "" && f.bodyFile != "" {
		return usagef("give --body or --body-file, not both")
	}
	if f.jwtKey != "" && f.jwtSecret != "" {
		return usagef("give --jwt-key or --jwt-secret, not both")
	}
	return nil
}

// readBody reads the user's body, if any.
func (b *builder) readBody(stdin io.Reader) error {
	f := b.f
	b.custom = f.bodySet || f.body != "" || f.bodyFile != ""
	var err error
	switch {
	case f.bodyFile == "-":
		b.d.body, err = io.ReadAll(stdin)
	case f.bodyFile != "":
		b.d.body, err = os.ReadFile(f.bodyFile)
	case b.custom:
		b.d.body = []byte(f.body)
	}
	if err != nil {
		return usagef("--body-file: %v", err)
	}
	if b.custom && f.event != "" {
		b.warnings = append(b.warnings, "--event is ignored with --body or --body-file")
	}
	return nil
}

// signToken signs the JWT, first, so that the sample body can carry it.
func (b *builder) signToken() error {
	f, sample := b.f, b.preset.Sample
	wantJWT := f.jwtKey != "" || f.jwtSecret != "" || sample.JWT != nil
	b.tokenIn = config.TokenSource{Source: config.SourceHeader, Name: "Authorization"}
	if sample.JWT != nil {
		b.tokenIn = sample.JWT.In
	}
	if f.jwtIn != "" {
		if !wantJWT {
			return usagef("--jwt-in needs --jwt-key or --jwt-secret")
		}
		k, n, ok := strings.Cut(f.jwtIn, ":")
		if !ok || n == "" || !slices.Contains([]string{config.SourceHeader, config.SourceForm, config.SourceJSON, config.SourceQuery}, k) {
			return usagef("--jwt-in %q: want header:<Name>, form:<field>, json:<field> or query:<param>", f.jwtIn)
		}
		b.tokenIn = config.TokenSource{Source: k, Name: n}
	}
	if !wantJWT {
		if len(f.claims) > 0 || f.kid != "" || f.alg != "" {
			return usagef("--claim, --kid and --alg need --jwt-key or --jwt-secret")
		}
		return nil
	}
	if f.jwtKey == "" && f.jwtSecret == "" {
		return usagef("%s needs --jwt-key <private-key.pem> (and --kid) or --jwt-secret: its deliveries carry a signed token", b.preset.Name)
	}
	if b.custom && (b.tokenIn.Source == config.SourceForm || b.tokenIn.Source == config.SourceJSON) {
		return usagef("with --body, put the token in a header or the query (--jwt-in header:<Name> or query:<param>)")
	}
	tok, err := signJWT(f, sample.JWT, b.in)
	if err != nil {
		return err
	}
	b.d.token = tok
	return nil
}

// sampleBody makes the preset's body, unless the user gave one, and sets
// the method and Content-Type.
func (b *builder) sampleBody() error {
	sample, d := b.preset.Sample, &b.d
	contentType := ""
	switch {
	case b.custom:
	case d.token != "" && b.tokenIn.Source == config.SourceForm:
		d.body = []byte(url.Values{b.tokenIn.Name: {d.token}}.Encode())
		contentType = "application/x-www-form-urlencoded"
	case d.token != "" && b.tokenIn.Source == config.SourceJSON:
		d.body, _ = json.Marshal(map[string]string{b.tokenIn.Name: d.token})
		contentType = "application/json"
	case sample.SignedURLRedirect && b.f.signedURL != "":
		// The redirect of the buyer's browser: a GET of the signed URL.
	case sample.Body == nil:
		// The token is in a header or the query: no body.
	default:
		body, err := sample.Body(b.in)
		if err != nil {
			return usagef("--event %q: %v", b.in.Event, err)
		}
		d.body = body
		contentType = cmp.Or(sample.ContentType, "application/json")
	}
	if len(d.body) > 0 {
		contentType = cmp.Or(b.f.contentType, contentType, sniffContentType(d.body))
		d.setHeader("Content-Type", contentType)
	}
	d.method = strings.ToUpper(b.f.method)
	if d.method == "" {
		d.method = http.MethodPost
		if len(d.body) == 0 && b.f.signedURL != "" {
			d.method = http.MethodGet
		}
	}
	return nil
}

// setHeaders adds the user's headers, then the credentials.
func (b *builder) setHeaders() error {
	f, d := b.f, &b.d
	for _, h := range f.headers {
		name, value, ok := cutHeader(h)
		if !ok {
			return usagef("--header %q: want 'Name: value'", h)
		}
		d.setHeader(name, value)
	}
	if f.headerSecret != "" {
		name, value, ok := cutHeader(f.headerSecret)
		if !ok {
			return usagef("--header-secret %q: want 'Header: value', e.g. 'Authorization: Bearer abc'", f.headerSecret)
		}
		d.setHeader(name, value)
	}
	if f.basicAuth != "" {
		user, pass, ok := strings.Cut(f.basicAuth, ":")
		if !ok {
			return usagef("--basic-auth: want <user>:<password>")
		}
		if d.getHeader("Authorization") != "" {
			return usagef("--basic-auth: an Authorization header is already set")
		}
		d.basic, d.basicUser, d.basicPass = true, user, pass
		d.setHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	if d.token == "" || b.tokenIn.Source != config.SourceHeader {
		return nil
	}
	v := d.token
	if strings.EqualFold(b.tokenIn.Name, "Authorization") {
		if d.getHeader("Authorization") != "" {
			return usagef("the JWT goes in Authorization, which --basic-auth or --header already set: use --jwt-in")
		}
		v = "Bearer " + v
	}
	d.setHeader(b.tokenIn.Name, v)
	return nil
}

// setURL adds the token and the query secret to the URL, then signs all
// of it.
func (b *builder) setURL() error {
	f := b.f
	if b.d.token != "" && b.tokenIn.Source == config.SourceQuery {
		b.url = appendQuery(b.url, b.tokenIn.Name, b.d.token)
	}
	if f.querySecret != "" {
		param, secret, ok := strings.Cut(f.querySecret, "=")
		if !ok || param == "" {
			return usagef("--query-secret: want <param>=<secret>")
		}
		b.url = appendQuery(b.url, param, secret)
	}
	b.d.url = b.url
	if f.signedURL != "" {
		param, secret, ok := strings.Cut(f.signedURL, "=")
		if !ok || param == "" {
			return usagef("--signed-url: want <param>=<secret>, e.g. sig=<secret>")
		}
		signed, err := signedurl.Sign(b.url, param, []byte(secret))
		if err != nil {
			return usagef("--signed-url: %v", err)
		}
		b.d.url = signed
	}
	return nil
}

// cutHeader reads 'Name: value'.
func cutHeader(s string) (name, value string, ok bool) {
	name, value, ok = strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return "", "", false
	}
	return name, strings.TrimSpace(value), true
}

// parseTime reads RFC 3339, with or without fractional seconds.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-11-21T09:30:00Z", s)
	}
	return t, nil
}

func randomID(p *config.Preset) string {
	if p.Sample.NewID != nil {
		return p.Sample.NewID()
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "ord-" + hex.EncodeToString(b[:])
}

// appendQuery adds name=value (form-encoded) to rawURL, keeping the rest as
// written.
func appendQuery(rawURL, name, value string) string {
	p := url.QueryEscape(name) + "=" + url.QueryEscape(value)
	switch q := strings.IndexByte(rawURL, '?'); {
	case q < 0:
		return rawURL + "?" + p
	case q == len(rawURL)-1 || strings.HasSuffix(rawURL, "&"):
		return rawURL + p
	default:
		return rawURL + "&" + p
	}
}

func sniffContentType(b []byte) string {
	t := bytes.TrimSpace(b)
	switch {
	case json.Valid(t) && len(t) > 0 && (t[0] == '{' || t[0] == '['):
		return "application/json"
	case bytes.IndexByte(t, '=') > 0 && !bytes.ContainsAny(t, " \n\r\t{}"):
		return "application/x-www-form-urlencoded"
	default:
		return "text/plain; charset=utf-8"
	}
}
