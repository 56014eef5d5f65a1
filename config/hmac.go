package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// HMAC is a guard's hmac lines and block: a signature over the body, made
// with a shared secret. An option left out keeps the preset's value; a
// preset without a scheme of its own (generic) starts from the defaults
// named below.
type HMAC struct {
	// Secrets are the shared secrets, as the provider hands them out; any
	// one may match (rotation). Placeholders such as {env.NAME} are
	// expanded at load time.
	Secrets []string `json:"secrets,omitempty"`
	// SecretEncoding says how a secret's text becomes key bytes: raw,
	// base64, hex or whsec (the base64 after "whsec_"). Default: raw.
	SecretEncoding string `json:"secret_encoding,omitempty"`
	// Header is the request header that carries the signature; Prefix
	// precedes the signature in it ("sha256="). Required for generic.
	Header string `json:"header,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	// Algorithm is the HMAC's hash: sha1, sha256 or sha512. Default: sha256.
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding is the signature's: hex, base64 or base64url (padded or
	// not). Default: hex.
	Encoding string `json:"encoding,omitempty"`
	// Signed is the template of what is signed: {body} for the raw body
	// (only here), {header.Name} for a header that must occur once,
	// {signature.key} for a field of the signature header (Stripe's t,
	// Paddle's ts), {notification_url}, and literal text. Default: {body}.
	Signed string `json:"signed,omitempty"`
	// Timestamp is the template of a signed Unix time (seconds, or
	// milliseconds above 10^12); it must be part of Signed. Default: none.
	Timestamp string `json:"timestamp,omitempty"`
	// Tolerance is how old the timestamp may be, ToleranceFuture how far
	// ahead of the clock. Default: 5m and 1m; a Tolerance given alone
	// sets both.
	Tolerance       *caddy.Duration `json:"tolerance,omitempty"`
	ToleranceFuture *caddy.Duration `json:"tolerance_future,omitempty"`
	// NotificationURL is the URL exactly as configured at the provider,
	// for schemes that sign it (Square). Never rebuilt from the request.
	NotificationURL string `json:"notification_url,omitempty"`
	// PublicKeys are Standard Webhooks Ed25519 keys (whpk_…) for v1a
	// signatures; they may stand without secrets.
	PublicKeys []string `json:"public_keys,omitempty"`
}

// Signature header syntaxes of a SignatureScheme.
const (
	SyntaxValue            = "value"             // the whole value, after the prefix
	SyntaxStripe           = "stripe"            // t=<unix>,v1=<sig>[,v1=…]
	SyntaxPaddle           = "paddle"            // ts=<unix>;h1=<sig>[;h1=…]
	SyntaxStandardWebhooks = "standard_webhooks" // v1,<b64> [v1a,<b64>]…
	SyntaxAdyen            = "adyen"             // inside each JSON notification item
)

// SignatureScheme is how a provider signs its deliveries: the syntax of
// its signature header, the headers it may send under a second name, and
// the options of its hmac block. In Settings, HMAC holds the user's block
// laid over the preset's.
type SignatureScheme struct {
	Syntax string
	// Alternates names, for a header the scheme reads, the header read
	// when it is absent (Svix's webhook-* names).
	Alternates map[string]string
	HMAC       HMAC
}

// Tolerances in effect, for schemes with a timestamp.
func (s *SignatureScheme) Tolerances() (past, future time.Duration) {
	return time.Duration(*s.HMAC.Tolerance), time.Duration(*s.HMAC.ToleranceFuture)
}

// genericScheme is what an hmac block starts from when the preset has no
// scheme of its own.
var genericScheme = SignatureScheme{
	Syntax: SyntaxValue,
	HMAC: HMAC{
		SecretEncoding: "raw", Algorithm: "sha256", Encoding: "hex", Signed: "{body}",
		Tolerance: durationPtr(5 * time.Minute), ToleranceFuture: durationPtr(time.Minute),
	},
}

func durationPtr(d time.Duration) *caddy.Duration {
	v := caddy.Duration(d)
	return &v
}

// resolveHMAC resolves the guard's hmac lines, if any.
func (g *Guard) resolveHMAC(s *Settings) error {
	if g.HMAC == nil {
		return nil
	}
	h, err := resolveHMAC(s.Preset, g.HMAC)
	if err != nil {
		return &FieldError{Field: "hmac", Index: -1, Err: fmt.Errorf("hmac: %w", err)}
	}
	s.HMAC = h
	return nil
}

// resolveHMAC lays the user's block over the preset's scheme, itself laid
// over the generic defaults, and checks what can be checked without the
// scheme's templates (hmacsig compiles those).
func resolveHMAC(p *Preset, user *HMAC) (*SignatureScheme, error) {
	s := genericScheme
	if p.Signature != nil {
		s.Syntax, s.Alternates = p.Signature.Syntax, p.Signature.Alternates
		overlay(&s.HMAC, &p.Signature.HMAC)
	}
	if s.Syntax == SyntaxAdyen {
		if user.Header != "" || user.Prefix != "" || user.Signed != "" || user.Timestamp != "" ||
			user.Tolerance != nil || user.ToleranceFuture != nil || user.NotificationURL != "" {
			return nil, errors.New("adyen signs fixed fields of each notification item: header, signed, timestamp, tolerance and notification_url do not apply")
		}
		s.HMAC.Signed = ""
	}
	if user.Prefix != "" && user.Header == "" {
		return nil, errors.New("a prefix goes with its header: header <name> <prefix>")
	}
	overlay(&s.HMAC, user)
	s.HMAC.Secrets, s.HMAC.PublicKeys = user.Secrets, user.PublicKeys
	return &s, checkHMAC(p, &s)
}

// overlay sets in dst every option src gives. A header comes with its
// prefix; a tolerance given alone sets both directions.
func overlay(dst, src *HMAC) {
	if src.Header != "" {
		dst.Header, dst.Prefix = src.Header, src.Prefix
	}
	for _, o := range []struct {
		dst *string
		val string
	}{
		{&dst.SecretEncoding, src.SecretEncoding}, {&dst.Algorithm, src.Algorithm}, {&dst.Encoding, src.Encoding},
		{&dst.Signed, src.Signed}, {&dst.Timestamp, src.Timestamp}, {&dst.NotificationURL, src.NotificationURL},
	} {
		if o.val != "" {
			*o.dst = o.val
		}
	}
	if src.Tolerance != nil {
		dst.Tolerance, dst.ToleranceFuture = src.Tolerance, src.Tolerance
	}
	if src.ToleranceFuture != nil {
		dst.ToleranceFuture = src.ToleranceFuture
	}
}

func checkHMAC(p *Preset, s *SignatureScheme) error {
	h := &s.HMAC
	if len(h.Secrets)+len(h.PublicKeys) == 0 {
		return errors.New("no secret: add hmac <secret> (or, for Standard Webhooks v1a, public_key)")
	}
	for _, sec := range h.Secrets {
		if sec == "" {
			return errors.New("empty secret (after placeholder expansion)")
		}
	}
	for _, k := range h.PublicKeys {
		if k == "" {
			return errors.New("empty public_key (after placeholder expansion)")
		}
	}
	if len(h.PublicKeys) > 0 && s.Syntax != SyntaxStandardWebhooks {
		return errors.New("public_key: only Standard Webhooks schemes (v1a signatures) take a public key")
	}
	if s.Syntax != SyntaxAdyen && h.Header == "" {
		return fmt.Errorf("no header: the %s preset needs header <name> [<prefix>] in its hmac block", p.Name)
	}
	if err := oneOf("secret_encoding", h.SecretEncoding, "raw", "base64", "hex", "whsec"); err != nil {
		return err
	}
	if err := oneOf("algorithm", h.Algorithm, "sha1", "sha256", "sha512"); err != nil {
		return err
	}
	if err := oneOf("encoding", h.Encoding, "hex", "base64", "base64url"); err != nil {
		return err
	}
	if strings.Contains(h.Signed, "{notification_url}") && h.NotificationURL == "" {
		return fmt.Errorf("the %s preset signs its notification URL: add notification_url <url> to the hmac block, exactly as configured at the provider", p.Name)
	}
	if *h.Tolerance <= 0 || *h.ToleranceFuture <= 0 {
		return errors.New("tolerance must be positive")
	}
	return nil
}

func oneOf(what, val string, allowed ...string) error {
	for _, a := range allowed {
		if val == a {
			return nil
		}
	}
	return fmt.Errorf("%s: unknown %q (want %s)", what, val, strings.Join(allowed, ", "))
}
