package hmacsig

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Sign sets the signature header of a delivery of body as the provider
// would send it at time ts, signed with secret (in the given encoding).
// A timestamp header the scheme reads is set to ts; any other header the
// signed template names must already be in h. It is the signer of the
// tests and of `caddy callback sign`; the verifier is tested against the
// providers' own vectors and libraries, not only against it.
func Sign(s Scheme, secret, secretEncoding string, h http.Header, body []byte, ts time.Time) error {
	v, err := compile(s)
	if err != nil {
		return err
	}
	if v.format == FormatAdyen {
		return errors.New("adyen signs each notification item: use SignAdyenItem")
	}
	key, err := decodeSecret(secret, secretEncoding)
	if err != nil {
		return err
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	var fields fieldList
	if v.timestamp != nil && len(v.timestamp.parts) == 1 {
		switch p := v.timestamp.parts[0]; p.kind {
		case partHeader:
			h.Set(p.text, unix)
		case partField:
			fields.fields[0] = field{key: p.text, value: unix}
			fields.n = 1
		}
	}
	var vals [maxParts]string
	if !v.signed.resolve(v, h, &fields, &vals) {
		return errors.New("a header or field the signed template reads is not set")
	}
	m := hmac.New(v.newHash, key)
	v.signed.write(m, body, &vals)
	sig := encodeSignature(v.encoding, m.Sum(nil))
	var value string
	switch v.format {
	case FormatValue:
		value = v.prefix + sig
	case FormatStripe, FormatPaddle:
		syn := stripeSyntax
		if v.format == FormatPaddle {
			syn = paddleSyntax
		}
		for i := 0; i < fields.n; i++ {
			value += fields.fields[i].key + "=" + fields.fields[i].value + string(syn.sep)
		}
		value += syn.sigKey + "=" + sig
	case FormatStandardWebhooks:
		value = "v1," + sig
	}
	h.Set(v.header, value)
	return nil
}

// SignAdyenItem returns the hmacSignature of an Adyen notification item
// for a hex key, as Adyen computes it.
func SignAdyenItem(item *AdyenItem, hexKey string) (string, error) {
	key, err := decodeSecret(hexKey, SecretHex)
	if err != nil {
		return "", err
	}
	newHash, _, _ := algorithm("sha256")
	m := hmac.New(newHash, key)
	m.Write(item.SignedString())
	return encodeSignature(encBase64, m.Sum(nil)), nil
}
