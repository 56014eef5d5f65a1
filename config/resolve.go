package config

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Settings is a Guard with its preset's defaults filled in and every value
// checked: what the handler runs with.
type Settings struct {
	Preset *Preset
	Dedupe []string // nil: deduplication off
	// DedupeDefault tells that Dedupe is the preset's own default, whose
	// placeholders listed in Preset.OptionalPlaceholders may be empty.
	DedupeDefault   bool
	DedupeTTL       time.Duration
	Deadline        time.Duration
	UpstreamTimeout time.Duration
	OnTimeout       OnTimeout
	MaxBody         int64
	MaxAnswer       int64
	ForwardClaims   string
	Store           Store
	StoreFailure    string
	// JWT is the user's jwt block laid over the preset's (nil: no jwt).
	JWT *JWT
	// Leeway is the JWT leeway in effect.
	Leeway time.Duration
	// HMAC is the user's hmac block laid over the preset's scheme (nil:
	// no hmac).
	HMAC *SignatureScheme
	// ReportOnly forwards failures, marked, instead of rejecting them.
	ReportOnly bool
}

// FieldError is a configuration error in one field of a Guard, so that the
// Caddyfile adapter can report it at the line that set the field. Its
// message names the field itself.
type FieldError struct {
	// Field is the JSON key, which is also the Caddyfile subdirective.
	Field string
	// Index is the entry of a list field (basic_auth, query_secret, ...),
	// or -1 for a field that holds one value.
	Index int
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr is an error in a single-valued field: "field: problem".
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Index: -1, Err: fmt.Errorf(field+": "+format, args...)}
}

// entryErr is an error in entry i of a list field, which name identifies
// (a user, a parameter): "field name: problem".
func entryErr(field string, i int, name, format string, args ...any) error {
	context := field
	if name != "" {
		context += " " + name
	}
	return &FieldError{Field: field, Index: i, Err: fmt.Errorf(context+": "+format, args...)}
}

// Resolve checks the guard and fills in the preset's defaults. Secrets must
// already have had their placeholders expanded: an empty one is an error.
// Errors name the field and the problem.
func (g *Guard) Resolve() (*Settings, error) {
	p, err := g.preset()
	if err != nil {
		return nil, err
	}
	if err := g.checkAuth(); err != nil {
		return nil, err
	}
	s := &Settings{
		Preset:          p,
		Dedupe:          p.Dedupe,
		DedupeDefault:   true,
		DedupeTTL:       p.DedupeTTL,
		Deadline:        p.Deadline,
		UpstreamTimeout: DefaultUpstreamTimeout,
		OnTimeout:       OnTimeout{Status: DefaultOnTimeoutStatus},
		MaxBody:         DefaultMaxBody,
		MaxAnswer:       DefaultMaxAnswer,
		ForwardClaims:   cmp.Or(p.ForwardClaims, ForwardClaimsOff),
		Store:           Store{Kind: StoreMemory},
		StoreFailure:    StoreFailureOpen,
		Leeway:          DefaultLeeway,
		ReportOnly:      g.ReportOnly,
	}
	for _, resolve := range []func(*Settings) error{
		g.resolveDedupe, g.resolveTimes, g.resolveAnswer, g.resolveStore, g.resolveJWT, g.resolveHMAC,
	} {
		if err := resolve(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// preset looks up the guard's preset.
func (g *Guard) preset() (*Preset, error) {
	p, ok := LookupPreset(g.Preset)
	switch {
	case ok:
		return p, nil
	case g.Preset == "":
		return nil, fmt.Errorf("missing preset (want one of %s)", strings.Join(PresetNames, ", "))
	default:
		return nil, fieldErr("preset", "%q is unknown (want one of %s)", g.Preset, strings.Join(PresetNames, ", "))
	}
}

func (g *Guard) resolveDedupe(s *Settings) error {
	if len(g.Dedupe) == 0 {
		return nil
	}
	s.DedupeDefault = false
	if g.Dedupe[0] == DedupeOff {
		if len(g.Dedupe) > 1 {
			return fieldErr("dedupe", `"off" takes no other template`)
		}
		s.Dedupe = nil
		return nil
	}
	for _, t := range g.Dedupe {
		if strings.TrimSpace(t) == "" || t == DedupeOff {
			return fieldErr("dedupe", `has an empty template or "off" among templates`)
		}
		if strings.Contains(t, "{body}") {
			return fieldErr("dedupe", "{body} is the raw body and stands only in an hmac block's signed template (use {body.sha256})")
		}
	}
	s.Dedupe = g.Dedupe
	return nil
}

func (g *Guard) resolveTimes(s *Settings) error {
	for _, d := range []struct {
		name string
		val  caddy.Duration
		dst  *time.Duration
	}{
		{"dedupe_ttl", g.DedupeTTL, &s.DedupeTTL},
		{"deadline", g.Deadline, &s.Deadline},
		{"upstream_timeout", g.UpstreamTimeout, &s.UpstreamTimeout},
	} {
		if d.val < 0 {
			return fieldErr(d.name, "must be positive, got %s", time.Duration(d.val))
		}
		if d.val > 0 {
			*d.dst = time.Duration(d.val)
		}
	}
	// The forward would be cut off before the provider's answer is due.
	if s.Deadline > s.UpstreamTimeout {
		if g.Deadline == 0 {
			return fieldErr("upstream_timeout", "%s is shorter than the %s preset's deadline %s", s.UpstreamTimeout, s.Preset.Name, s.Deadline)
		}
		return fieldErr("deadline", "%s is longer than upstream_timeout %s", s.Deadline, s.UpstreamTimeout)
	}
	return nil
}

// resolveAnswer checks what the guard answers and forwards.
func (g *Guard) resolveAnswer(s *Settings) error {
	if g.OnTimeout != nil {
		if g.OnTimeout.Status < 200 || g.OnTimeout.Status > 599 {
			return fieldErr("on_timeout", "status %d is not an HTTP status from 200 to 599", g.OnTimeout.Status)
		}
		s.OnTimeout = *g.OnTimeout
	}
	if g.MaxBody < 0 {
		return fieldErr("max_body", "must be positive, got %d", g.MaxBody)
	}
	if g.MaxBody > 0 {
		s.MaxBody = g.MaxBody
	}
	if g.MaxAnswer < 0 {
		return fieldErr("max_answer", "must be positive, got %d", g.MaxAnswer)
	}
	if g.MaxAnswer > 0 {
		s.MaxAnswer = g.MaxAnswer
	}
	switch g.ForwardClaims {
	case "":
	case ForwardClaimsOff:
		s.ForwardClaims = ForwardClaimsOff
	case ForwardClaimsHeader, ForwardClaimsBody:
		if g.JWT == nil {
			return fieldErr("forward_claims", "%s needs a jwt block: there are no claims to forward", g.ForwardClaims)
		}
		s.ForwardClaims = g.ForwardClaims
	default:
		return fieldErr("forward_claims", "unknown mode %q (want off, header or body)", g.ForwardClaims)
	}
	return nil
}

func (g *Guard) resolveStore(s *Settings) error {
	if g.Store != nil {
		switch g.Store.Kind {
		case StoreMemory:
			if g.Store.URL != "" {
				return fieldErr("store", "memory takes no URL")
			}
			if g.Store.MaxBytes < 0 {
				return fieldErr("store", "memory size must be positive")
			}
		case StoreRedis:
			if g.Store.URL == "" {
				return fieldErr("store", "redis needs a URL, e.g. redis://localhost:6379/0")
			}
			if g.Store.MaxBytes != 0 {
				return fieldErr("store", "redis takes no size")
			}
		default:
			return fieldErr("store", "unknown kind %q (want memory or redis)", g.Store.Kind)
		}
		s.Store = *g.Store
	}
	switch g.StoreFailure {
	case "":
	case StoreFailureOpen, StoreFailureReject:
		s.StoreFailure = g.StoreFailure
	default:
		return fieldErr("store_failure", "unknown mode %q (want open or reject)", g.StoreFailure)
	}
	return nil
}

func (g *Guard) resolveJWT(s *Settings) error {
	if g.JWT == nil {
		return nil
	}
	j, err := mergeJWT(s.Preset.JWT, g.JWT)
	if err != nil {
		return &FieldError{Field: "jwt", Index: -1, Err: fmt.Errorf("jwt: %w", err)}
	}
	s.JWT = j
	if j.Leeway != nil {
		s.Leeway = time.Duration(*j.Leeway)
	}
	return nil
}

// checkAuth requires at least one authentication and rejects incomplete
// lines, including secrets that expanded to nothing.
func (g *Guard) checkAuth() error {
	if len(g.BasicAuth)+len(g.QuerySecret)+len(g.HeaderSecret)+len(g.SignedURL) == 0 && g.JWT == nil && g.HMAC == nil {
		return errors.New("no authentication configured: add basic_auth, query_secret, header_secret, signed_url, hmac or jwt")
	}
	for i, b := range g.BasicAuth {
		switch {
		case b.Username == "":
			return entryErr("basic_auth", i, "", "empty user")
		case strings.Contains(b.Username, ":"):
			return entryErr("basic_auth", i, "", "user %q contains ':', which Basic authentication cannot carry", b.Username)
		case b.Password == "":
			return entryErr("basic_auth", i, b.Username, "empty password (after placeholder expansion)")
		}
	}
	for i, q := range g.QuerySecret {
		if q.Param == "" {
			return entryErr("query_secret", i, "", "empty parameter name")
		}
		if q.Secret == "" {
			return entryErr("query_secret", i, q.Param, "empty secret (after placeholder expansion)")
		}
	}
	for i, h := range g.HeaderSecret {
		if h.Header == "" || strings.ContainsAny(h.Header, " \t:\r\n") {
			return entryErr("header_secret", i, "", "invalid header name %q", h.Header)
		}
		if h.Value == "" {
			return entryErr("header_secret", i, h.Header, "empty value (after placeholder expansion)")
		}
	}
	for i, s := range g.SignedURL {
		if s.Param == "" {
			return entryErr("signed_url", i, "", "empty parameter name")
		}
		if s.Secret == "" {
			return entryErr("signed_url", i, s.Param, "empty secret (after placeholder expansion)")
		}
	}
	if g.JWT != nil {
		if err := checkJWTAuth(g.JWT); err != nil {
			return &FieldError{Field: "jwt", Index: -1, Err: fmt.Errorf("jwt: %w", err)}
		}
	}
	return nil
}

func checkJWTAuth(j *JWT) error {
	if len(j.Keys) == 0 && len(j.Secrets) == 0 {
		return errors.New("no key and no secret: add key <kid> <pem-file> or secret <hmac-secret>")
	}
	for _, k := range j.Keys {
		if k.File == "" {
			return fmt.Errorf("key %q has no file", k.KeyID)
		}
	}
	for _, s := range j.Secrets {
		if s == "" {
			return errors.New("empty secret (after placeholder expansion)")
		}
	}
	return nil
}

// mergeJWT lays the user's jwt block over the preset's defaults.
func mergeJWT(preset, user *JWT) (*JWT, error) {
	j := *user
	if preset != nil {
		if len(j.From) == 0 {
			j.From = preset.From
		}
		if len(j.Algs) == 0 {
			j.Algs = preset.Algs
		}
	}
	for _, f := range j.From {
		switch f.Source {
		case SourceForm, SourceJSON, SourceHeader, SourceQuery:
		default:
			return nil, fmt.Errorf("from: unknown source %q (want form, json, header or query)", f.Source)
		}
		if f.Name == "" {
			return nil, fmt.Errorf("from %s: missing name", f.Source)
		}
	}
	if j.Leeway != nil && *j.Leeway < 0 {
		return nil, errors.New("leeway must not be negative")
	}
	if j.MaxAge < 0 {
		return nil, errors.New("max_age must not be negative")
	}
	return &j, nil
}
