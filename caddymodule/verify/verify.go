// Package verify holds what every callback verifier shares: the Verifier
// interface, the request view a verifier reads, the reason classes a failure
// is reported with, and the constant-time secret comparison. The verifiers of
// the callback_guard directive live here (basic_auth, query_secret,
// header_secret) and in the sub-packages signedurl, hmacsig and jwtauth.
package verify

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"time"
	"unsafe"
)

// Reason is the class of a verification failure. It is what the provider
// reads in the 401 body ({"error": "<reason>"}) and the value of the reason
// label of callback_guard_verify_failures_total, so the set stays small and
// never carries anything from the request.
type Reason string

// The reason classes.
const (
	// ReasonMissingCredentials: the credential a verifier looks for is absent
	// (no Authorization header, no secret query parameter, no secret header).
	ReasonMissingCredentials Reason = "missing_credentials"
	// ReasonInvalidCredentials: a credential is present but matches none of
	// the configured alternatives.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	// ReasonMissingSignature: a signed URL without its signature parameter,
	// or a signed body without a signature the scheme accepts.
	ReasonMissingSignature Reason = "missing_signature"
	// ReasonInvalidSignature: a URL, token or body signature that does not
	// verify.
	ReasonInvalidSignature Reason = "invalid_signature"
	// ReasonMissingToken: no JWT where the configuration says to find one.
	ReasonMissingToken Reason = "missing_token"
	// ReasonMalformedToken: the token is not a well-formed JWS compact token,
	// or its header or claims are not the JSON they must be.
	ReasonMalformedToken Reason = "malformed_token"
	// ReasonAlgNotAllowed: the token's alg is "none", outside the allow-list,
	// or does not fit the key (an HMAC alg with a public key).
	ReasonAlgNotAllowed Reason = "alg_not_allowed"
	// ReasonUnknownKey: the token's kid names no configured key.
	ReasonUnknownKey Reason = "unknown_key"
	// ReasonTokenExpired: now is past exp (plus leeway).
	ReasonTokenExpired Reason = "token_expired"
	// ReasonTokenNotYetValid: now is before nbf (minus leeway).
	ReasonTokenNotYetValid Reason = "token_not_yet_valid"
	// ReasonTokenIssuedInFuture: iat is more than leeway in the future.
	ReasonTokenIssuedInFuture Reason = "token_issued_in_future"
	// ReasonTokenTooOld: max_age is set and iat is missing or too old.
	ReasonTokenTooOld Reason = "token_too_old"
	// ReasonInvalidClaims: a time claim of the wrong type.
	ReasonInvalidClaims Reason = "invalid_claims"
	// ReasonTimestampOutOfTolerance: a signed body's signed timestamp is
	// older or further ahead than the tolerance allows.
	ReasonTimestampOutOfTolerance Reason = "timestamp_out_of_tolerance"
)

// Failure is the error a verifier returns when a request does not pass.
// Detail is for tests and debugging only: it never holds a secret and is
// never shown to the client.
type Failure struct {
	Reason Reason
	Detail string
}

func (f *Failure) Error() string {
	if f.Detail == "" {
		return string(f.Reason)
	}
	return string(f.Reason) + ": " + f.Detail
}

// Fail builds a *Failure.
func Fail(reason Reason, detail string) *Failure {
	return &Failure{Reason: reason, Detail: detail}
}

// Input is the part of a request a verifier may read. The body is the raw
// body as received, read once by the handler (nil when empty).
type Input struct {
	Request *http.Request
	Body    []byte
	// Scheme and Host are those the client used: from X-Forwarded-Proto and
	// X-Forwarded-Host when the request came from a trusted proxy, else the
	// connection's scheme and the Host header. Only signed_url reads them.
	Scheme string
	Host   string
	// Now is the time of the check, for token lifetimes.
	Now time.Time
}

// Output collects what verifiers learned, for the headers and body the
// backend receives.
type Output struct {
	// ClaimsJSON is the verified JWT payload, exactly as signed.
	ClaimsJSON []byte
	// Credential names, without revealing it, the credential that passed
	// when one verifier holds several (the JWT key, the hmac secret): a
	// stable fingerprint such as a truncated hex SHA-256 of the key
	// material. The handler scopes dedupe keys by it, so that a delivery
	// verified by one credential never gets an answer stored under another.
	Credential string
}

// BodyReader is implemented by verifiers that read the body (a JWT from a
// form or JSON field, a signature over the body). The handler runs every
// other verifier before it reads the body, so that an unauthenticated
// request costs little more memory than the bytes it sent.
type BodyReader interface {
	ReadsBody() bool
}

// Verifier checks one kind of authentication. Verify returns nil when the
// request passes and a *Failure when it does not; it must be safe for
// concurrent use and must not modify the request.
type Verifier interface {
	// Kind is the name of the subdirective: basic_auth, query_secret,
	// header_secret, signed_url or jwt.
	Kind() string
	Verify(in *Input, out *Output) error
}

// Secret is a configured secret kept as its SHA-256, so that comparing a
// presented value with it takes the same time whatever the lengths and
// whatever the contents.
type Secret [sha256.Size]byte

// NewSecret hashes a configured secret.
func NewSecret(s string) Secret { return sha256.Sum256([]byte(s)) }

// Matches reports, in constant time, whether presented is the secret.
func (s *Secret) Matches(presented string) bool {
	h := HashString(presented)
	return subtle.ConstantTimeCompare(h[:], s[:]) == 1
}

// HashString is the SHA-256 of s, without copying s into a new slice.
func HashString(s string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// MatchesHash reports, in constant time, whether a hash computed by the
// caller equals the secret's. It lets a caller hash a presented value once
// and compare it with many alternatives.
func (s *Secret) MatchesHash(h *[sha256.Size]byte) int {
	return subtle.ConstantTimeCompare(h[:], s[:])
}

// Reasons lists every reason class, for metrics that want every series
// present from the start.
var Reasons = []Reason{
	ReasonMissingCredentials, ReasonInvalidCredentials, ReasonMissingSignature, ReasonInvalidSignature,
	ReasonMissingToken, ReasonMalformedToken, ReasonAlgNotAllowed, ReasonUnknownKey, ReasonTokenExpired,
	ReasonTokenNotYetValid, ReasonTokenIssuedInFuture, ReasonTokenTooOld, ReasonInvalidClaims,
	ReasonTimestampOutOfTolerance,
}
