// Package hmacsig implements the hmac verifier of callback_guard: a
// signature over the request body, as webhook senders such as Stripe,
// GitHub, Shopify, Standard Webhooks, Paddle, Razorpay, Square and Adyen
// make it.
//
// A Scheme says where the signature is and how it is made: the header and
// its syntax (a whole value after a prefix, Stripe's t=,v1= pairs,
// Paddle's ts=;h1= pairs, the Standard Webhooks list of v1,<base64>, or
// Adyen's signature inside each JSON notification item), the algorithm,
// the signature's encoding, the signed template ({body} is the raw body)
// and the signed timestamp with its tolerance. Keys says how the secret
// text becomes key bytes.
//
// Every secret is tried against every signature the request carries, in
// constant time, and the signature is checked before the timestamp, so
// that a forged request reads invalid_signature, never a hint about time.
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Kind is the subdirective name and the X-Callback-Verified value.
const Kind = "hmac"

// Bounds on the work one request can cause.
const (
	// MaxKeys is the most secrets and public keys one scheme may hold:
	// each is tried against every signature.
	MaxKeys = 8
	// MaxSignatures is the most signatures one header may carry.
	MaxSignatures = 8
	// MaxItems is the most Adyen notification items one body may carry.
	MaxItems = 64
)

// Format is the syntax of the signature header.
type Format int

// The signature header syntaxes.
const (
	// FormatValue: the whole header value, after the prefix, is one
	// signature (GitHub, Shopify, Razorpay, Square, any generic scheme).
	FormatValue Format = iota
	// FormatStripe: t=<unix>,v1=<sig>[,v1=<sig>…]; other schemes ignored.
	FormatStripe
	// FormatPaddle: ts=<unix>;h1=<sig>[;h1=<sig>…].
	FormatPaddle
	// FormatStandardWebhooks: a space-separated list of v1,<base64> (HMAC)
	// and v1a,<base64> (Ed25519); other versions ignored.
	FormatStandardWebhooks
	// FormatAdyen: no header; every item of the JSON body's
	// notificationItems carries its own signature over its fields.
	FormatAdyen
)

// Scheme is how a provider signs.
type Scheme struct {
	Format Format
	// Header is the signature header (none for FormatAdyen).
	Header string
	// Prefix precedes the signature in a FormatValue header ("sha256=").
	Prefix string
	// Alternates names, for a header the scheme reads, the header read when
	// it is absent (Svix's webhook-* names, Shopify's unprefixed one).
	Alternates map[string]string
	// Algorithm is sha1, sha256 or sha512.
	Algorithm string
	// Encoding of the signature: hex, base64 or base64url (the latter
	// padded or not).
	Encoding string
	// Signed is the template of what is signed: {body} is the raw body,
	// {header.Name} a header that must occur once, {signature.key} a
	// key=value field of the signature header (FormatStripe and
	// FormatPaddle), {notification_url} the NotificationURL. Empty: {body}.
	Signed string
	// Timestamp is the template of a signed Unix time, in seconds or, above
	// 10^12, milliseconds; it must be part of Signed. Empty: no time check.
	Timestamp string
	// TolerancePast and ToleranceFuture bound how old and how far ahead of
	// the clock the timestamp may be.
	TolerancePast, ToleranceFuture time.Duration
	// NotificationURL is Square's notification URL, exactly as configured
	// at the provider.
	NotificationURL string
}

// Keys are the credentials a scheme accepts: any one may match.
type Keys struct {
	// Secrets are the shared secrets as the provider hands them out.
	Secrets []string
	// SecretEncoding says how a secret's text becomes key bytes: raw (the
	// text itself, the default), base64, hex or whsec (base64 after an
	// optional "whsec_").
	SecretEncoding string
	// PublicKeys are Ed25519 keys ("whpk_" and base64) for the Standard
	// Webhooks v1a signatures.
	PublicKeys []string
}

// Verifier checks requests against one scheme and its keys. It is safe for
// concurrent use.
type Verifier struct {
	format     Format
	header     string
	prefix     string
	alternates map[string]string
	newHash    func() hash.Hash
	size       int // of a digest
	encoding   encoding
	signed     *template
	timestamp  *template // nil: no time check
	past       time.Duration
	future     time.Duration
	notifyURL  string
	secrets    []*secretKey
	publicKeys []publicKey
	checked    []string // the headers the scheme reads
}

// secretKey is one HMAC key: its keyed hashes are pooled, so that the
// padded-key state is computed once and restored on Reset.
type secretKey struct {
	pool        sync.Pool // of *mac
	fingerprint string
}

type mac struct {
	h   hash.Hash
	sum [sha512.Size]byte
}

// New compiles the scheme and decodes the keys. Errors never hold a
// secret.
func New(s Scheme, k Keys) (*Verifier, error) {
	v, err := compile(s)
	if err != nil {
		return nil, err
	}
	if err := v.addKeys(s, k); err != nil {
		return nil, err
	}
	return v, nil
}

// Check reports the errors of a scheme that need no keys, so that `caddy
// adapt` names them before any secret placeholder is expanded.
func (s Scheme) Check() error {
	_, err := compile(s)
	return err
}

func compile(s Scheme) (*Verifier, error) {
	newHash, size, err := algorithm(s.Algorithm)
	if err != nil {
		return nil, err
	}
	enc, err := parseEncoding(s.Encoding)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		format: s.Format, prefix: s.Prefix, newHash: newHash, size: size, encoding: enc,
		past: s.TolerancePast, future: s.ToleranceFuture, notifyURL: s.NotificationURL,
	}
	if len(s.Alternates) > 0 {
		v.alternates = make(map[string]string, len(s.Alternates))
		for from, to := range s.Alternates {
			v.alternates[http.CanonicalHeaderKey(from)] = http.CanonicalHeaderKey(to)
		}
	}
	switch s.Format {
	case FormatAdyen:
		if s.Header != "" || s.Prefix != "" || s.Signed != "" || s.Timestamp != "" || s.NotificationURL != "" {
			return nil, errors.New("adyen signs fixed fields of each notification item: header, signed, timestamp and notification_url do not apply")
		}
	case FormatValue, FormatStripe, FormatPaddle, FormatStandardWebhooks:
		if s.Header == "" || !validHeaderName(s.Header) {
			return nil, fmt.Errorf("header: %q is not a header name (want header <name> [<prefix>])", s.Header)
		}
		v.header = http.CanonicalHeaderKey(s.Header)
		v.checked = append(v.checked, v.header)
		if err := v.compileTemplates(s); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown signature format %d", s.Format)
	}
	if s.Prefix != "" && s.Format != FormatValue {
		return nil, errors.New("header: a prefix applies only to a header holding one signature")
	}
	return v, nil
}

func (v *Verifier) compileTemplates(s Scheme) error {
	signed := s.Signed
	if signed == "" {
		signed = "{body}"
	}
	t, err := parseTemplate(signed, true)
	if err != nil {
		return fmt.Errorf("signed: %w", err)
	}
	if err := v.checkParts(t, "signed"); err != nil {
		return err
	}
	v.signed = t
	if s.Timestamp == "" {
		return nil
	}
	ts, err := parseTemplate(s.Timestamp, false)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	if err := v.checkParts(ts, "timestamp"); err != nil {
		return err
	}
	if !t.contains(ts) {
		return fmt.Errorf("timestamp %q is not part of signed %q: an unsigned time proves nothing", s.Timestamp, signed)
	}
	if s.TolerancePast <= 0 || s.ToleranceFuture <= 0 {
		return errors.New("tolerance: the past and future tolerances must be positive")
	}
	v.timestamp = ts
	return nil
}

// checkParts rejects placeholders the scheme cannot fill.
func (v *Verifier) checkParts(t *template, what string) error {
	for _, p := range t.parts {
		switch p.kind {
		case partField:
			if v.format != FormatStripe && v.format != FormatPaddle {
				return fmt.Errorf("%s: {signature.%s}: this scheme's header has no key=value fields", what, p.text)
			}
		case partNotificationURL:
			if v.notifyURL == "" {
				return fmt.Errorf("%s: {notification_url} needs notification_url <url>, exactly as configured at the provider", what)
			}
		case partHeader:
			if !contains(v.checked, p.text) {
				v.checked = append(v.checked, p.text)
			}
		}
	}
	return nil
}

func (v *Verifier) addKeys(s Scheme, k Keys) error {
	if len(k.Secrets)+len(k.PublicKeys) == 0 {
		return errors.New("no secret: add hmac <secret>")
	}
	if len(k.Secrets)+len(k.PublicKeys) > MaxKeys {
		return fmt.Errorf("%d secrets and public keys: at most %d (each is tried on every request)", len(k.Secrets)+len(k.PublicKeys), MaxKeys)
	}
	for i, text := range k.Secrets {
		key, err := decodeSecret(text, k.SecretEncoding)
		if err != nil {
			return fmt.Errorf("secret %d: %w", i+1, err)
		}
		sk := &secretKey{fingerprint: fingerprint("hmac", key)}
		sk.pool.New = func() any { return &mac{h: hmac.New(v.newHash, key)} }
		v.secrets = append(v.secrets, sk)
	}
	if len(k.PublicKeys) > 0 && s.Format != FormatStandardWebhooks {
		return errors.New("public_key: only Standard Webhooks schemes (v1a signatures) take a public key")
	}
	for i, text := range k.PublicKeys {
		pk, err := decodePublicKey(text)
		if err != nil {
			return fmt.Errorf("public_key %d: %w", i+1, err)
		}
		v.publicKeys = append(v.publicKeys, pk)
	}
	return nil
}

// Kind returns "hmac".
func (v *Verifier) Kind() string { return Kind }

// ReadsBody is true: the signature covers the body.
func (v *Verifier) ReadsBody() bool { return true }

// CheckedHeaders lists the request headers the scheme reads, alternates
// included: the guard keeps them out of the Connection header, so that no
// proxy hop drops a header the backend may want to read again.
func (v *Verifier) CheckedHeaders() []string {
	names := slices.Clone(v.checked)
	for from, to := range v.alternates {
		for _, name := range []string{from, to} {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

func algorithm(name string) (func() hash.Hash, int, error) {
	switch name {
	case "", "sha256":
		return sha256.New, sha256.Size, nil
	case "sha1":
		return sha1.New, sha1.Size, nil
	case "sha512":
		return sha512.New, sha512.Size, nil
	}
	return nil, 0, fmt.Errorf("algorithm: unknown %q (want sha1, sha256 or sha512)", name)
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7F || c == ':' || c == '(' || c == ')' || c == ',' || c == ';' ||
			c == '"' || c == '/' || c == '[' || c == ']' || c == '?' || c == '=' || c == '{' || c == '}' || c == '\\' || c == '<' || c == '>' || c == '@' {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
