package hmacsig

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

var _ verify.Verifier = (*Verifier)(nil)
var _ verify.BodyReader = (*Verifier)(nil)

// Verify checks the request's signature, then its timestamp. On success
// out.Credential names the key that matched.
func (v *Verifier) Verify(in *verify.Input, out *verify.Output) error {
	if v.format == FormatAdyen {
		return v.verifyAdyen(in.Body, out)
	}
	h := in.Request.Header
	value, ok := v.headerValue(h, v.header)
	if !ok {
		return errNoHeader
	}
	var sigs sigList
	var fields fieldList
	if f := v.parseHeader(value, &sigs, &fields); f != nil {
		return f
	}
	var vals [maxParts]string
	if !v.signed.resolve(v, h, &fields, &vals) {
		return errNoSigned
	}
	cred := v.match(&sigs, in.Body, &vals)
	if cred == "" {
		return errMismatch
	}
	if v.timestamp != nil {
		now := in.Now
		if now.IsZero() {
			now = time.Now()
		}
		if f := v.checkTime(h, &fields, now); f != nil {
			return f
		}
	}
	out.Credential = cred
	return nil
}

// match compares every signature with every key, without stopping at the
// first match, and returns the fingerprint of a key that matched ("" for
// none).
func (v *Verifier) match(sigs *sigList, body []byte, vals *[maxParts]string) string {
	var decoded [MaxSignatures][sha512.Size]byte
	var valid [MaxSignatures]int
	var hmacs, eds int
	for i := 0; i < sigs.n; i++ {
		switch sigs.sigs[i].kind {
		case sigHMAC:
			if decodeSignature(v.encoding, sigs.sigs[i].text, decoded[i][:v.size]) {
				valid[i] = 1
			}
			hmacs++
		case sigEd25519:
			if decodeSignature(encBase64, sigs.sigs[i].text, decoded[i][:ed25519.SignatureSize]) {
				valid[i] = 1
			}
			eds++
		}
	}
	cred := ""
	if hmacs > 0 {
		for _, k := range v.secrets {
			m := k.pool.Get().(*mac)
			m.h.Reset()
			v.signed.write(m.h, body, vals)
			sum := m.h.Sum(m.sum[:0])
			match := 0
			for i := 0; i < sigs.n; i++ {
				if sigs.sigs[i].kind == sigHMAC {
					match |= subtle.ConstantTimeCompare(sum, decoded[i][:v.size]) & valid[i]
				}
			}
			k.pool.Put(m)
			if match == 1 && cred == "" {
				cred = k.fingerprint
			}
		}
	}
	if eds > 0 {
		msg := v.signed.appendTo(make([]byte, 0, v.signed.size(body, vals)), body, vals)
		for _, pk := range v.publicKeys {
			for i := 0; i < sigs.n; i++ {
				if sigs.sigs[i].kind == sigEd25519 && valid[i] == 1 &&
					ed25519.Verify(pk.key, msg, decoded[i][:ed25519.SignatureSize]) && cred == "" {
					cred = pk.fingerprint
				}
			}
		}
	}
	return cred
}

// checkTime judges the signed timestamp against the tolerance.
func (v *Verifier) checkTime(h http.Header, fields *fieldList, now time.Time) *verify.Failure {
	var vals [maxParts]string
	if !v.timestamp.resolve(v, h, fields, &vals) {
		return errNoSigned
	}
	text := vals[0]
	if len(v.timestamp.parts) > 1 {
		text = strings.Join(vals[:len(v.timestamp.parts)], "")
	}
	t, ok := parseUnix(text)
	if !ok {
		return errBadTimestamp
	}
	age := now.Sub(t)
	if age > v.past || -age > v.future {
		return errStale
	}
	return nil
}

// parseUnix reads a Unix time of decimal digits: seconds, or milliseconds
// when above 10^12.
func parseUnix(s string) (time.Time, bool) {
	if s == "" || len(s) > 18 {
		return time.Time{}, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > 1e12 {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}
