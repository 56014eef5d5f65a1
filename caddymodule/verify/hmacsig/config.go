package hmacsig

import "github.com/callbackguard/callbackguard/config"

// formats are the header syntaxes by their configuration names.
var formats = map[string]Format{
	config.SyntaxValue:            FormatValue,
	config.SyntaxStripe:           FormatStripe,
	config.SyntaxPaddle:           FormatPaddle,
	config.SyntaxStandardWebhooks: FormatStandardWebhooks,
	config.SyntaxAdyen:            FormatAdyen,
}

// SchemeOf is the scheme of a resolved hmac block, for the guard that
// verifies it and for the command that signs deliveries with it.
func SchemeOf(s *config.SignatureScheme) Scheme {
	h := s.HMAC
	past, future := s.Tolerances()
	return Scheme{
		Format:          formats[s.Syntax],
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

// FromConfig makes the verifier of a resolved hmac block, its secrets
// expanded.
func FromConfig(s *config.SignatureScheme) (*Verifier, error) {
	return New(SchemeOf(s), Keys{
		Secrets:        s.HMAC.Secrets,
		SecretEncoding: s.HMAC.SecretEncoding,
		PublicKeys:     s.HMAC.PublicKeys,
	})
}
