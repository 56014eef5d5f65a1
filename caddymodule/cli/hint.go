package cli

import (
	"strings"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// hint says what to look at for a rejection.
func hint(v *Verdict) string {
	switch v.Reason {
	case verify.ReasonMissingCredentials:
		return "the request carries none of the credentials the guard checks (" + v.Checks + "): basic_auth wants Authorization: Basic, query_secret its parameter, header_secret its header"
	case verify.ReasonInvalidCredentials:
		return "a credential is present but matches none configured (" + v.Checks + "); {env.*} secrets are read from this shell's environment"
	case verify.ReasonMissingSignature:
		if strings.Contains(v.Checks, "hmac") {
			return "the signature header (or, for Adyen, an item's additionalData.hmacSignature) is missing, empty, repeated, or holds no signature of a known version"
		}
		return "the URL has no signature parameter, or an empty one"
	case verify.ReasonTimestampOutOfTolerance:
		return "the signed timestamp is outside the guard's tolerance of the check time (a replayed or delayed delivery, or a skewed clock): to check it as of when it arrived, give --at <time>"
	case verify.ReasonInvalidSignature:
		if strings.Contains(v.Checks, "hmac") {
			return "the body's signature matches none of the hmac secrets: check the secret (as the provider shows it, e.g. whsec_… whole, Adyen's key in hex), that the body is byte for byte as sent, and for Square the notification_url"
		}
		if !strings.Contains(v.Checks, "signed_url") {
			return "the token's signature does not verify with the configured key: the token was changed, or signed with another key"
		}
		h := "the signature does not match the URL as the guard sees it, " + v.ClientURL + ", less its signature parameter: check the secret, and that the scheme and host are those the provider signed (--scheme, --host, --trusted-proxy)"
		if strings.Contains(v.Checks, "jwt") {
			h += "; or the token's signature does not verify with the configured key"
		}
		return h
	case verify.ReasonMissingToken:
		return "no token where the guard looks for it (payglocal: the form field, JSON field or header x-gl-token; otherwise Authorization: Bearer, or the jwt block's from lines)"
	case verify.ReasonMalformedToken:
		return "the token is not a well-formed JWS (three base64url parts with JSON header and claims), or appears twice"
	case verify.ReasonAlgNotAllowed:
		return "the token's alg is outside the allow-list (algs) or does not fit the key"
	case verify.ReasonUnknownKey:
		return "the token's kid names none of the configured keys (jwt { key <kid> <file> })"
	case verify.ReasonTokenExpired:
		return "the token's lifetime has passed as of the check time: to check it as of when it arrived, give --at <time> (for PayGlocal, its iat in ms works)"
	case verify.ReasonTokenNotYetValid, verify.ReasonTokenIssuedInFuture:
		return "the token is dated after the check time: check the clocks, or give --at"
	case verify.ReasonTokenTooOld:
		return "max_age is set and the token's iat is older than that (or absent); --at checks it as of another time"
	case verify.ReasonInvalidClaims:
		return "a time claim (exp, nbf, iat) has the wrong type"
	}
	return ""
}
