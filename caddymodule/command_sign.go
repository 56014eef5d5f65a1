package caddymodule

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/config"
)

const signLong = `
Builds a correctly authenticated test delivery for a preset and prints it as
a curl command (default) or as raw HTTP (--format http, which 'caddy
callback verify' reads back).

The credentials mirror the directive's lines; give those of the guard you
test (a delivery with none is built too, and the guard answers it 401):

  --basic-auth <user>:<password>       basic_auth <user> <password>
  --query-secret <param>=<secret>      query_secret <param> <secret>
  --header-secret '<Header>: <value>'  header_secret <Header> <value>
  --signed-url <param>=<secret>        signed_url <param> <secret>
  --jwt-key <private-key.pem>          jwt { key <kid> <public-key.pem> }
  --jwt-secret <secret>                jwt { secret <secret> }

Each preset has a sample body (replace it with --body or --body-file):

  glopal     checkout callback {"type":<event>,"checkout_id":<id>} (POST);
             with --signed-url and no body: the confirmation-page redirect,
             a GET of the signed --to URL.
             --event INVENTORY_CHECK (default) or CHECKOUT_PURCHASE
  globiance  webhook as Globiance documents it; checkoutId <id>, paymentId
             pay-<id>. --event <type>.<event>: payment.confirmed (default),
             payment.update, payment.settled, payment.dispute,
             "payment.refund success", "payment.refund rejected",
             checkout.completed, checkout.cancelled, checkout.expired
  avarda     purchase-completed callback {"purchaseId":<id>}
  payglocal  form post x-gl-token=<RS256 JWT> shaped like PayGlocal's:
             header issued-by, is-digested, kid; claims gid and x-gl-gid
             gl_<id>, merchantUniqueId <id>, status <event>
             (SENT_FOR_CAPTURE by default; AUTHORIZED, ISSUER_DECLINE, ...),
             x-gl-merchantId, iat (a string of milliseconds), exp 300000
             (a lifetime in ms). Needs --jwt-key (and --kid).
  generic    {"id":"evt_<id>","type":<event>,"order_id":<id>}, event
             order.paid by default

<id> is --id, random by default: the same --id (and --time) makes the same
delivery again, which the guard answers from its store (X-Callback-Replayed).

Example, against the demo (go run ./cmd/caddy run --config Caddyfile.example):

  caddy callback sign glopal --to http://localhost:8080/glopal/callback \
      --basic-auth glopal:demo-glopal-password
  caddy callback sign glopal --signed-url sig=demo-glopal-hmac-secret \
      --to 'http://localhost:8080/glopal/confirmation/DE/ORD-1001?lang=de-DE'
  caddy callback sign payglocal --to http://localhost:8080/payglocal/callback \
      --jwt-key examples/demo/payglocal-demo-private.pem --kid demo-kid-1 \
      --event AUTHORIZED --format http > capture.http

` + exitCodesHelp

// signFlags are the flags that describe a delivery, shared by sign and send.
type signFlags struct {
	to           string
	method       string
	id           string
	event        string
	at           string
	body         string
	bodyFile     string
	contentType  string
	headers      []string
	basicAuth    string
	querySecret  string
	headerSecret string
	signedURL    string
	jwtKey       string
	jwtSecret    string
	kid          string
	alg          string
	claims       []string
	jwtIn        string
	jwtTTL       time.Duration

	bodySet bool // --body given (it may be empty)
}

func (f *signFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "the callback `URL` (required); with --signed-url, the URL that is signed")
	fl.StringVarP(&f.method, "method", "X", "", "HTTP `method` (default POST; GET for a signed URL without body)")
	fl.StringVar(&f.id, "id", "", "the order, purchase or checkout `id` in the sample (default random)")
	fl.StringVar(&f.event, "event", "", "the `event`: glopal type, globiance <type>.<event>, payglocal status, generic type")
	fl.StringVar(&f.at, "time", "", "the `time` the delivery claims to be made at, RFC 3339 (iat, timestamps; default now)")
	fl.StringVar(&f.body, "body", "", "the `body`, instead of the preset's sample")
	fl.StringVar(&f.bodyFile, "body-file", "", "read the body from a `file` (- for stdin)")
	fl.StringVar(&f.contentType, "content-type", "", "the body's `type` (default: guessed from the body)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "an extra header `'Name: value'` (repeatable; Host too)")
	fl.StringVar(&f.basicAuth, "basic-auth", "", "`user:password` of a basic_auth line")
	fl.StringVar(&f.querySecret, "query-secret", "", "`param=secret` of a query_secret line, added to the URL")
	fl.StringVar(&f.headerSecret, "header-secret", "", "`'Header: value'` of a header_secret line")
	fl.StringVar(&f.signedURL, "signed-url", "", "`param=secret` of a signed_url line: the URL gets its HMAC-SHA256 signature")
	fl.StringVar(&f.jwtKey, "jwt-key", "", "sign a JWT with this private key (PEM `file`, RSA or EC)")
	fl.StringVar(&f.jwtSecret, "jwt-secret", "", "sign a JWT with this HMAC `secret` (HS256)")
	fl.StringVar(&f.kid, "kid", "", "the JWT header's key id (`kid`)")
	fl.StringVar(&f.alg, "alg", "", "the JWT's `alg` (default from the key: RS256, ES256/384/512, HS256)")
	fl.StringArrayVar(&f.claims, "claim", nil, "a JWT claim `name=value`, or name:=<JSON> for a number etc. (repeatable; overrides the preset's)")
	fl.StringVar(&f.jwtIn, "jwt-in", "", "`where` the JWT goes: header:<Name>, form:<field>, json:<field> or query:<param> (default header:Authorization, as Bearer; payglocal: form:x-gl-token)")
	fl.DurationVar(&f.jwtTTL, "jwt-ttl", 5*time.Minute, "the JWT's lifetime: exp = iat + this (not payglocal: exp 300000 ms)")
}

// delivery is one signed test request.
type delivery struct {
	preset string
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

func newSignCommand() *cobra.Command {
	var f signFlags
	var format string
	cmd := &cobra.Command{
		Use:   "sign <preset> --to <url> [credentials] [--format curl|http]",
		Short: "Prints a correctly authenticated test delivery as curl or raw HTTP",
		Long:  strings.TrimSpace(signLong),
		Args:  cobra.ArbitraryArgs,
	}
	f.register(cmd)
	cmd.Flags().StringVar(&format, "format", "curl", "output: curl (a command line) or http (the raw request)")
	cmd.RunE = withExitCode(func(cmd *cobra.Command, args []string) (int, error) {
		if format != "curl" && format != "http" {
			return exitUsage, fmt.Errorf("--format %q: want curl or http", format)
		}
		f.bodySet = cmd.Flags().Changed("body")
		d, warnings, err := buildDelivery(args, &f, cmd.InOrStdin())
		for _, w := range warnings {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
		}
		if err != nil {
			return codeOf(err), err
		}
		out := cmd.OutOrStdout()
		if format == "http" {
			raw, err := d.rawHTTP()
			if err != nil {
				return exitUsage, err
			}
			_, _ = out.Write(raw)
			if isTerminal(out) {
				fmt.Fprintln(out)
			}
			return exitOK, nil
		}
		fmt.Fprintln(out, d.curl())
		return exitOK, nil
	})
	return cmd
}

// buildDelivery makes the delivery the flags describe. Errors are usage
// errors.
func buildDelivery(args []string, f *signFlags, stdin io.Reader) (*delivery, []string, error) {
	var warnings []string
	if len(args) == 0 {
		return nil, nil, usagef("missing preset: want one of %s", strings.Join(config.PresetNames, ", "))
	}
	if len(args) > 1 {
		return nil, nil, usagef("unexpected argument %q after the preset", args[1])
	}
	preset := args[0]
	if _, ok := config.LookupPreset(preset); !ok {
		return nil, nil, usagef("unknown preset %q: want one of %s", preset, strings.Join(config.PresetNames, ", "))
	}
	if f.to == "" {
		return nil, nil, usagef("missing --to <url>: the callback URL (e.g. http://localhost:8080/%s/callback)", preset)
	}
	u, err := url.Parse(strings.TrimSpace(f.to))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, usagef("--to %q: want an absolute http:// or https:// URL", f.to)
	}
	now := time.Now()
	if f.at != "" {
		if now, err = parseTime(f.at); err != nil {
			return nil, nil, usagef("--time: %v", err)
		}
	}
	id := f.id
	if id == "" {
		id = randomID(preset)
	}
	if f.body != "" && f.bodyFile != "" {
		return nil, nil, usagef("give --body or --body-file, not both")
	}
	if f.jwtKey != "" && f.jwtSecret != "" {
		return nil, nil, usagef("give --jwt-key or --jwt-secret, not both")
	}

	d := &delivery{preset: preset}
	rawURL := strings.TrimSpace(f.to)
	if i := strings.IndexByte(rawURL, '#'); i >= 0 {
		rawURL = rawURL[:i] // a fragment is never sent
	}

	// The body: the user's, or the preset's sample.
	var body []byte
	custom := f.bodySet || f.body != "" || f.bodyFile != ""
	switch {
	case f.bodyFile != "":
		if f.bodyFile == "-" {
			body, err = io.ReadAll(stdin)
		} else {
			body, err = os.ReadFile(f.bodyFile)
		}
		if err != nil {
			return nil, nil, usagef("--body-file: %v", err)
		}
	case custom:
		body = []byte(f.body)
	}

	// The token, signed now so that the sample body can carry it.
	wantJWT := f.jwtKey != "" || f.jwtSecret != "" || preset == config.PresetPayGlocal
	jwtKind, jwtName := "header", "Authorization"
	if preset == config.PresetPayGlocal {
		jwtKind, jwtName = "form", "x-gl-token"
	}
	if f.jwtIn != "" {
		if !wantJWT {
			return nil, nil, usagef("--jwt-in needs --jwt-key or --jwt-secret")
		}
		k, n, ok := strings.Cut(f.jwtIn, ":")
		if !ok || n == "" || !slices.Contains([]string{"header", "form", "json", "query"}, k) {
			return nil, nil, usagef("--jwt-in %q: want header:<Name>, form:<field>, json:<field> or query:<param>", f.jwtIn)
		}
		jwtKind, jwtName = k, n
	}
	if wantJWT {
		if f.jwtKey == "" && f.jwtSecret == "" {
			return nil, nil, usagef("payglocal needs --jwt-key <private-key.pem> (and --kid): the demo key is examples/demo/payglocal-demo-private.pem, kid demo-kid-1")
		}
		tok, err := signJWT(preset, f, id, now)
		if err != nil {
			return nil, nil, err
		}
		d.token = tok
		if custom && (jwtKind == "form" || jwtKind == "json") {
			return nil, nil, usagef("with --body, put the token in a header or the query (--jwt-in header:<Name> or query:<param>)")
		}
	} else if len(f.claims) > 0 || f.kid != "" || f.alg != "" {
		return nil, nil, usagef("--claim, --kid and --alg need --jwt-key or --jwt-secret")
	}

	contentType := ""
	if !custom {
		switch {
		case d.token != "" && jwtKind == "form":
			body = []byte(url.Values{jwtName: {d.token}}.Encode())
			contentType = "application/x-www-form-urlencoded"
		case d.token != "" && jwtKind == "json":
			body, _ = json.Marshal(map[string]string{jwtName: d.token})
			contentType = "application/json"
		case preset == config.PresetGlopal && f.signedURL != "":
			// The confirmation-page redirect: a GET of the signed URL.
		case preset == config.PresetPayGlocal:
			// The token is in a header or the query: no body.
		default:
			body, err = sampleBody(preset, f.event, id, now)
			if err != nil {
				return nil, nil, err
			}
			contentType = "application/json"
		}
	} else if f.event != "" {
		warnings = append(warnings, "--event is ignored with --body or --body-file")
	}
	if len(body) > 0 {
		if f.contentType != "" {
			contentType = f.contentType
		} else if contentType == "" {
			contentType = sniffContentType(body)
		}
	}
	d.body = body

	d.method = strings.ToUpper(f.method)
	if d.method == "" {
		d.method = http.MethodPost
		if len(body) == 0 && f.signedURL != "" {
			d.method = http.MethodGet
		}
	}

	// Headers: Content-Type, then the user's, then credentials.
	if contentType != "" {
		d.setHeader("Content-Type", contentType)
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, nil, usagef("--header %q: want 'Name: value'", h)
		}
		d.setHeader(name, strings.TrimSpace(value))
	}
	if f.headerSecret != "" {
		name, value, ok := strings.Cut(f.headerSecret, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, nil, usagef("--header-secret %q: want 'Header: value', e.g. 'Authorization: Bearer abc'", f.headerSecret)
		}
		d.setHeader(name, strings.TrimSpace(value))
	}
	if f.basicAuth != "" {
		user, pass, ok := strings.Cut(f.basicAuth, ":")
		if !ok {
			return nil, nil, usagef("--basic-auth: want <user>:<password>")
		}
		if d.getHeader("Authorization") != "" {
			return nil, nil, usagef("--basic-auth: an Authorization header is already set")
		}
		d.basic, d.basicUser, d.basicPass = true, user, pass
		d.setHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	if d.token != "" {
		switch jwtKind {
		case "header":
			v := d.token
			if strings.EqualFold(jwtName, "Authorization") {
				if d.getHeader("Authorization") != "" {
					return nil, nil, usagef("the JWT goes in Authorization, which --basic-auth or --header already set: use --jwt-in")
				}
				v = "Bearer " + v
			}
			d.setHeader(jwtName, v)
		case "query":
			rawURL = appendQuery(rawURL, jwtName, d.token)
		}
	}

	// The URL: the query secret, then the signature over all of it.
	if f.querySecret != "" {
		param, secret, ok := strings.Cut(f.querySecret, "=")
		if !ok || param == "" {
			return nil, nil, usagef("--query-secret: want <param>=<secret>")
		}
		rawURL = appendQuery(rawURL, param, secret)
	}
	if f.signedURL != "" {
		param, secret, ok := strings.Cut(f.signedURL, "=")
		if !ok || param == "" {
			return nil, nil, usagef("--signed-url: want <param>=<secret>, e.g. sig=<secret>")
		}
		signed, err := signedurl.Sign(rawURL, param, []byte(secret))
		if err != nil {
			return nil, nil, usagef("--signed-url: %v", err)
		}
		rawURL = signed
	}
	d.url = rawURL

	if f.basicAuth == "" && f.querySecret == "" && f.headerSecret == "" && f.signedURL == "" && d.token == "" {
		warnings = append(warnings, "no credentials given (--basic-auth, --query-secret, --header-secret, --signed-url, --jwt-key, --jwt-secret): the guard will answer 401")
	}
	return d, warnings, nil
}

// parseTime reads RFC 3339, with or without fractional seconds.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2026-11-21T09:30:00Z", s)
	}
	return t, nil
}

func randomID(preset string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	if preset == config.PresetAvarda {
		return hex.EncodeToString(b[:]) // Avarda's purchase ids are 32 hex digits
	}
	return "ord-" + hex.EncodeToString(b[:4])
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

// sampleBody is a preset's sample callback body.
func sampleBody(preset, event, id string, now time.Time) ([]byte, error) {
	now = now.UTC().Truncate(time.Second)
	switch preset {
	case config.PresetGlopal:
		if event == "" {
			event = "INVENTORY_CHECK"
		}
		return json.Marshal(struct {
			Type       string `json:"type"`
			CheckoutID string `json:"checkout_id"`
		}{event, id})
	case config.PresetGlobiance:
		if event == "" {
			event = "payment.confirmed"
		}
		typ, ev, ok := strings.Cut(event, ".")
		if !ok || typ == "" || ev == "" {
			return nil, usagef("--event %q: globiance events are <type>.<event>, e.g. payment.confirmed or checkout.completed", event)
		}
		return globianceBody(typ, ev, id, now)
	case config.PresetAvarda:
		if event != "" && event != "purchase.completed" {
			return nil, usagef("--event: avarda has one event, purchase.completed")
		}
		return json.Marshal(struct {
			PurchaseID string `json:"purchaseId"`
		}{id})
	case config.PresetGeneric:
		if event == "" {
			event = "order.paid"
		}
		return json.Marshal(struct {
			ID      string `json:"id"`
			Type    string `json:"type"`
			OrderID string `json:"order_id"`
			Created string `json:"created"`
		}{"evt_" + id, event, id, now.Format(time.RFC3339)})
	}
	return nil, usagef("preset %s has no sample body: give --body", preset)
}

// globianceBody is a webhook as Globiance documents it.
func globianceBody(typ, event, id string, now time.Time) ([]byte, error) {
	type payment struct {
		PaymentID         string `json:"paymentId"`
		CheckoutID        string `json:"checkoutId"`
		CurrencyName      string `json:"currencyName"`
		Amount            int    `json:"amount"`
		AmountDistributed int    `json:"amountDistributed"`
		TransactionType   string `json:"transactionType"`
		Status            string `json:"status"`
		IsUnderDispute    bool   `json:"isUnderDispute"`
		Refunded          bool   `json:"refunded"`
		Timestamp         string `json:"timestamp"`
	}
	type payload struct {
		CheckoutID string   `json:"checkoutId,omitempty"`
		Payment    *payment `json:"payment,omitempty"`
	}
	p := payload{CheckoutID: id}
	if typ == "payment" {
		p = payload{Payment: &payment{
			PaymentID: "pay-" + id, CheckoutID: id, CurrencyName: "USD",
			Amount: 100, AmountDistributed: 90, TransactionType: "wallet",
			Status: "confirmed", Refunded: strings.HasPrefix(event, "refund success"),
			IsUnderDispute: event == "dispute", Timestamp: now.Format(time.RFC3339),
		}}
	}
	return json.Marshal(struct {
		Event        string  `json:"event"`
		CheckoutID   string  `json:"checkoutId"`
		StoreID      string  `json:"storeId"`
		Type         string  `json:"type"`
		CheckoutTime string  `json:"checkoutTime"`
		ClientID     string  `json:"clientId"`
		ItemID       *string `json:"itemId"`
		ItemName     string  `json:"itemName"`
		Note         *string `json:"note"`
		Payload      payload `json:"payload"`
	}{event, id, "store123", typ, now.Add(-5 * time.Minute).Format(time.RFC3339), "client123", nil, "Example Item", nil, p})
}

// signJWT signs the delivery's token: PayGlocal-shaped for payglocal, else
// iat and exp; --claim entries override.
func signJWT(preset string, f *signFlags, id string, now time.Time) (string, error) {
	var key any
	alg := f.alg
	if f.jwtSecret != "" {
		key = []byte(f.jwtSecret)
		if alg == "" {
			alg = "HS256"
		}
	} else {
		k, err := loadPrivateKey(f.jwtKey)
		if err != nil {
			return "", usagef("--jwt-key %s: %v", f.jwtKey, err)
		}
		key = k
		if alg == "" {
			alg = defaultAlg(k)
		}
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil || alg == "none" {
		return "", usagef("--alg %q: unknown algorithm", alg)
	}

	claims := jwt.MapClaims{}
	header := map[string]any{}
	if preset == config.PresetPayGlocal {
		status := f.event
		if status == "" {
			status = "SENT_FOR_CAPTURE"
		}
		header["issued-by"] = "GlocalDemo"
		header["is-digested"] = "false"
		claims["gid"] = "gl_" + id
		claims["x-gl-gid"] = "gl_" + id
		claims["merchantUniqueId"] = id
		claims["status"] = status
		claims["x-gl-merchantId"] = "demo_merchant"
		claims["iat"] = strconv.FormatInt(now.UnixMilli(), 10)
		claims["exp"] = 300000
	} else {
		claims["iat"] = now.Unix()
		claims["exp"] = now.Add(f.jwtTTL).Unix()
	}
	for _, c := range f.claims {
		if name, raw, ok := strings.Cut(c, ":="); ok && !strings.Contains(name, "=") {
			var v any
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return "", usagef("--claim %s:=: %q is not JSON", name, raw)
			}
			claims[name] = v
			continue
		}
		name, value, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return "", usagef("--claim %q: want name=string or name:=<JSON>", c)
		}
		claims[name] = value
	}

	t := jwt.NewWithClaims(method, claims)
	if preset == config.PresetPayGlocal {
		delete(t.Header, "typ") // PayGlocal's header has none
	}
	for k, v := range header {
		t.Header[k] = v
	}
	if f.kid != "" {
		t.Header["kid"] = f.kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", usagef("signing the JWT with %s: %v", alg, err)
	}
	return s, nil
}

func defaultAlg(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return "RS256"
}

// loadPrivateKey reads an RSA, EC or Ed25519 private key (PKCS#1, SEC 1 or
// PKCS#8 PEM).
func loadPrivateKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("no private key PEM block (want -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		var k any
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("the key is encrypted: decrypt it first (openssl pkey -in <file> -out <plain.pem>)")
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			return nil, fmt.Errorf("this is a public key (%s): signing needs the private key", block.Type)
		default:
			return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %v", block.Type, err)
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
}

// curl prints the delivery as a curl command line.
func (d *delivery) curl() string {
	var b strings.Builder
	b.WriteString("curl -sS -i")
	if strings.ContainsAny(d.url, "[]{}") {
		b.WriteString(" -g")
	}
	if !(d.method == http.MethodGet && len(d.body) == 0) && !(d.method == http.MethodPost && len(d.body) > 0) {
		b.WriteString(" -X " + shellQuote(d.method))
	}
	for _, h := range d.header {
		if d.basic && strings.EqualFold(h[0], "Authorization") {
			b.WriteString(" \\\n  -u " + shellQuote(d.basicUser+":"+d.basicPass))
			continue
		}
		b.WriteString(" \\\n  -H " + shellQuote(h[0]+": "+h[1]))
	}
	if len(d.body) > 0 {
		b.WriteString(" \\\n  --data-binary " + shellQuote(string(d.body)))
	}
	if d.host != "" {
		b.WriteString(" \\\n  -H " + shellQuote("Host: "+d.host))
	}
	b.WriteString(" \\\n  " + shellQuote(d.url))
	return b.String()
}

// rawHTTP writes the delivery as an HTTP/1.1 request.
func (d *delivery) rawHTTP() ([]byte, error) {
	u, err := url.Parse(d.url)
	if err != nil {
		return nil, err
	}
	// The path and query exactly as signed, not as net/url re-escapes them.
	target := d.url[len(u.Scheme)+len("://"):]
	if i := strings.IndexAny(target, "/?"); i >= 0 {
		target = target[i:]
	} else {
		target = ""
	}
	if target == "" || target[0] == '?' {
		target = "/" + target
	}
	host := u.Host
	if d.host != "" {
		host = d.host
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", d.method, target)
	fmt.Fprintf(&b, "Host: %s\r\n", host)
	for _, h := range d.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if len(d.body) > 0 || d.method == http.MethodPost || d.method == http.MethodPut || d.method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(d.body))
	}
	b.WriteString("\r\n")
	b.Write(d.body)
	return b.Bytes(), nil
}

// request builds the delivery as an *http.Request to send.
func (d *delivery) request() (*http.Request, error) {
	r, err := http.NewRequest(d.method, d.url, bytes.NewReader(d.body))
	if err != nil {
		return nil, err
	}
	if len(d.body) == 0 {
		r.Body = http.NoBody
	}
	for _, h := range d.header {
		r.Header[http.CanonicalHeaderKey(h[0])] = []string{h[1]}
	}
	if d.host != "" {
		r.Host = d.host
	}
	r.Header.Set("User-Agent", "caddy-callback/1")
	return r, nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
