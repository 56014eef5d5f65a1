// Package config is the typed configuration of the callback_guard directive:
// what a user writes (Guard, in Caddy's JSON as in the Caddyfile), the
// provider presets, the defaults, and the validation. Of Caddy it uses only
// caddy.Duration, so that a duration reads as everywhere in Caddy ("1d",
// "4500ms", integer nanoseconds); it knows nothing of the request path.
package config

import (
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Directive is the name of the Caddyfile directive and global option.
const Directive = "callback_guard"

// Defaults that no preset overrides.
const (
	DefaultMaxBody         int64 = 1 << 20
	DefaultMaxAnswer       int64 = 1 << 20
	DefaultUpstreamTimeout       = 30 * time.Second
	DefaultOnTimeoutStatus       = 504
	DefaultLeeway                = time.Minute
)

// Token sources of a jwt block.
const (
	SourceForm   = "form"
	SourceJSON   = "json"
	SourceHeader = "header"
	SourceQuery  = "query"
)

// forward_claims modes.
const (
	ForwardClaimsOff    = "off"
	ForwardClaimsHeader = "header"
	ForwardClaimsBody   = "body"
)

// Store kinds and store_failure modes.
const (
	StoreMemory        = "memory"
	StoreRedis         = "redis"
	StoreFailureOpen   = "open"
	StoreFailureReject = "reject"
)

// DedupeOff, as the only dedupe template, turns deduplication off.
const DedupeOff = "off"

// Guard is the configuration of one callback_guard: one callback endpoint of
// one provider. Zero values mean "the preset's default".
type Guard struct {
	// Preset names the provider (one of PresetNames). It sets the defaults
	// below and X-Callback-Provider.
	Preset string `json:"preset"`

	// BasicAuth lists accepted user/password pairs (alternatives).
	BasicAuth []BasicAuth `json:"basic_auth,omitempty"`
	// QuerySecret lists accepted query-parameter secrets (alternatives).
	QuerySecret []QuerySecret `json:"query_secret,omitempty"`
	// HeaderSecret lists accepted static header values (alternatives).
	HeaderSecret []HeaderSecret `json:"header_secret,omitempty"`
	// SignedURL lists accepted URL signature keys (alternatives).
	SignedURL []SignedURL `json:"signed_url,omitempty"`
	// JWT verifies a signed token carried by the request.
	JWT *JWT `json:"jwt,omitempty"`
	// HMAC verifies a signature over the body, as the preset's scheme (or
	// the block's own) says.
	HMAC *HMAC `json:"hmac,omitempty"`
	// ReportOnly forwards a request that fails verification instead of
	// answering 401, marked X-Callback-Verified: none and
	// X-Callback-Rejected: <reason>, never deduplicated. Default: off.
	ReportOnly bool `json:"report_only,omitempty"`

	// Dedupe lists key templates; the first that resolves wins. ["off"]
	// disables deduplication; empty means the preset's default.
	Dedupe []string `json:"dedupe,omitempty"`
	// DedupeTTL is how long an answer is kept for replay.
	DedupeTTL caddy.Duration `json:"dedupe_ttl,omitempty"`
	// Deadline is when the provider gets the on_timeout answer if the
	// backend has not answered.
	Deadline caddy.Duration `json:"deadline,omitempty"`
	// OnTimeout is the answer at the deadline (default 504, empty body).
	OnTimeout *OnTimeout `json:"on_timeout,omitempty"`
	// UpstreamTimeout bounds the forward, from the request's arrival.
	UpstreamTimeout caddy.Duration `json:"upstream_timeout,omitempty"`
	// MaxBody is the largest body accepted, in bytes; larger gets 413.
	MaxBody int64 `json:"max_body,omitempty"`
	// MaxAnswer is the largest backend answer, in bytes, that is buffered
	// and stored for replay; a larger one streams to the provider unstored.
	// Default: 1 MiB.
	MaxAnswer int64 `json:"max_answer,omitempty"`
	// ForwardClaims passes verified JWT claims on: off, header or body.
	ForwardClaims string `json:"forward_claims,omitempty"`
	// Store is where deduplication keys live (default memory).
	Store *Store `json:"store,omitempty"`
	// StoreFailure is what happens when the store is unreachable: open
	// (forward anyway, the default) or reject (answer 503).
	StoreFailure string `json:"store_failure,omitempty"`
}

// BasicAuth is one accepted user and password.
type BasicAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// QuerySecret is a secret expected in a query parameter.
type QuerySecret struct {
	Param  string `json:"param"`
	Secret string `json:"secret"`
}

// HeaderSecret is the exact whole value expected in a header.
type HeaderSecret struct {
	Header string `json:"header"`
	Value  string `json:"value"`
}

// SignedURL is the parameter carrying a URL's HMAC and its secret.
type SignedURL struct {
	Param  string `json:"param"`
	Secret string `json:"secret"`
}

// JWT configures token verification.
type JWT struct {
	// From lists where the token is looked for, in order. Empty: the
	// Authorization header with the Bearer scheme.
	From []TokenSource `json:"from,omitempty"`
	// Keys are RSA or EC public keys (PEM files) by key id.
	Keys []JWTKey `json:"keys,omitempty"`
	// Secrets are HMAC secrets for HS256/384/512.
	Secrets []string `json:"secrets,omitempty"`
	// Algs is the allow-list; empty: every alg the keys fit.
	Algs []string `json:"algs,omitempty"`
	// Leeway is the clock skew allowed for exp, nbf and iat (default 1m).
	Leeway *caddy.Duration `json:"leeway,omitempty"`
	// MaxAge rejects tokens issued longer ago than this (default off).
	MaxAge caddy.Duration `json:"max_age,omitempty"`
}

// TokenSource is one place a token may be: form, json, header or query,
// and the field, header or parameter name.
type TokenSource struct {
	Source string `json:"source"`
	Name   string `json:"name"`
}

// JWTKey is a public key file and the key id tokens name it by.
type JWTKey struct {
	KeyID string `json:"kid"`
	File  string `json:"file"`
}

// OnTimeout is the answer a provider gets at the deadline.
type OnTimeout struct {
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
}

// Store selects the deduplication store.
type Store struct {
	// Kind is memory or redis.
	Kind string `json:"kind"`
	// URL is the Redis URL (redis://, rediss://).
	URL string `json:"url,omitempty"`
	// MaxBytes bounds the process's memory store (default 256 MiB); past
	// it the oldest entries are evicted first. The store is shared by
	// every guard of the process: the last guard provisioned sets it.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}
