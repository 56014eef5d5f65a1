package caddymodule

import (
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
	"github.com/callbackguard/callbackguard/config"
)

// hmacFormats are the verifier's header syntaxes by their configuration
// names.
var hmacFormats = map[string]hmacsig.Format{
	config.SyntaxValue:            hmacsig.FormatValue,
	config.SyntaxStripe:           hmacsig.FormatStripe,
	config.SyntaxPaddle:           hmacsig.FormatPaddle,
	config.SyntaxStandardWebhooks: hmacsig.FormatStandardWebhooks,
	config.SyntaxAdyen:            hmacsig.FormatAdyen,
}

// hmacScheme is the verifier's scheme of a resolved hmac block.
func hmacScheme(s *config.SignatureScheme) hmacsig.Scheme {
	h := s.HMAC
	past, future := s.Tolerances()
	return hmacsig.Scheme{
		Format:          hmacFormats[s.Syntax],
		Header:          h.Header,
		Prefix:          h.Prefix,
		Alternates:      s.Alternates,
		Algorithm:       h.Algorithm,
		Encoding:        h.Encoding,
		Signed:          h.Signed,
		Timestamp:       h.Timestamp,
		TolerancePast:   past,
		ToleranceFuture: future,
		NotificationURL: h.NotificationURL,
	}
}

// buildHMAC makes the verifier of a resolved hmac block, its secrets
// expanded.
func buildHMAC(s *config.SignatureScheme) (*hmacsig.Verifier, error) {
	return hmacsig.New(hmacScheme(s), hmacsig.Keys{
		Secrets:        s.HMAC.Secrets,
		SecretEncoding: s.HMAC.SecretEncoding,
		PublicKeys:     s.HMAC.PublicKeys,
	})
}
