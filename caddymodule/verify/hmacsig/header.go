package hmacsig

import (
	"hash"
	"strings"
	"unsafe"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// The failures, made once: a rejection allocates nothing.
var (
	errNoHeader      = verify.Fail(verify.ReasonMissingSignature, "hmac: signature header absent, empty or repeated")
	errNoSignature   = verify.Fail(verify.ReasonMissingSignature, "hmac: no signature of a version the scheme accepts")
	errNoSigned      = verify.Fail(verify.ReasonMissingSignature, "hmac: a header or field the signed template reads is absent, empty or repeated")
	errTooMany       = verify.Fail(verify.ReasonInvalidSignature, "hmac: too many signatures or fields in the header")
	errFieldRepeated = verify.Fail(verify.ReasonInvalidSignature, "hmac: a field of the signature header is repeated")
	errMismatch      = verify.Fail(verify.ReasonInvalidSignature, "hmac: no signature matches any key")
	errStale         = verify.Fail(verify.ReasonTimestampOutOfTolerance, "hmac: the signed timestamp is outside the tolerance")
	errBadTimestamp  = verify.Fail(verify.ReasonTimestampOutOfTolerance, "hmac: the signed timestamp is not a Unix time")
)

// maxFields bounds the key=value fields of a Stripe or Paddle header
// other than signatures.
const maxFields = 8

// sigKind says which keys a signature is checked with.
type sigKind uint8

const (
	sigHMAC sigKind = iota
	sigEd25519
)

type signature struct {
	text string
	kind sigKind
}

// sigList holds the signatures of one header, on the stack.
type sigList struct {
	n    int
	sigs [MaxSignatures]signature
}

func (l *sigList) add(text string, kind sigKind) bool {
	if l.n == len(l.sigs) {
		return false
	}
	l.sigs[l.n] = signature{text: text, kind: kind}
	l.n++
	return true
}

type field struct{ key, value string }

// fieldList holds the key=value fields of one header, on the stack.
type fieldList struct {
	n      int
	fields [maxFields]field
}

func (l *fieldList) get(key string) (string, bool) {
	for i := 0; i < l.n; i++ {
		if l.fields[i].key == key {
			return l.fields[i].value, l.fields[i].value != ""
		}
	}
	return "", false
}

// pairSyntax is a header of key=value items, one key holding signatures.
type pairSyntax struct {
	sep    byte
	sigKey string
}

var (
	stripeSyntax = pairSyntax{sep: ',', sigKey: "v1"}
	paddleSyntax = pairSyntax{sep: ';', sigKey: "h1"}
)

// parseHeader reads the signatures and fields of a signature header value.
func (v *Verifier) parseHeader(value string, sigs *sigList, fields *fieldList) *verify.Failure {
	switch v.format {
	case FormatValue:
		rest, ok := strings.CutPrefix(value, v.prefix)
		if !ok || rest == "" {
			return errNoSignature
		}
		sigs.add(rest, sigHMAC)
	case FormatStripe:
		return parsePairs(value, stripeSyntax, sigs, fields)
	case FormatPaddle:
		return parsePairs(value, paddleSyntax, sigs, fields)
	case FormatStandardWebhooks:
		return v.parseVersioned(value, sigs)
	}
	if sigs.n == 0 {
		return errNoSignature
	}
	return nil
}

// parsePairs reads Stripe's t=<unix>,v1=<sig>,… and Paddle's
// ts=<unix>;h1=<sig>;…. Items without '=' and signatures of other schemes
// (Stripe's v0) are ignored, as the providers' libraries do; a field given
// twice is refused, since either value could be the one that was signed.
func parsePairs(value string, syn pairSyntax, sigs *sigList, fields *fieldList) *verify.Failure {
	for value != "" {
		var item string
		if i := strings.IndexByte(value, syn.sep); i >= 0 {
			item, value = value[:i], value[i+1:]
		} else {
			item, value = value, ""
		}
		k, val, ok := strings.Cut(strings.Trim(item, " \t"), "=")
		if !ok {
			continue
		}
		if k == syn.sigKey {
			if val != "" && !sigs.add(val, sigHMAC) {
				return errTooMany
			}
			continue
		}
		if fields.has(k) {
			return errFieldRepeated
		}
		if fields.n == len(fields.fields) {
			return errTooMany
		}
		fields.fields[fields.n] = field{key: k, value: val}
		fields.n++
	}
	if sigs.n == 0 {
		return errNoSignature
	}
	return nil
}

func (l *fieldList) has(key string) bool {
	for i := 0; i < l.n; i++ {
		if l.fields[i].key == key {
			return true
		}
	}
	return false
}

// parseVersioned reads the Standard Webhooks list: space-separated
// <version>,<signature> entries. v1 entries are checked with the secrets,
// v1a entries with the public keys; other versions, and versions with no
// key to check them, are ignored.
func (v *Verifier) parseVersioned(value string, sigs *sigList) *verify.Failure {
	for value != "" {
		var entry string
		if i := strings.IndexByte(value, ' '); i >= 0 {
			entry, value = value[:i], value[i+1:]
		} else {
			entry, value = value, ""
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || sig == "" {
			continue
		}
		switch {
		case version == "v1" && len(v.secrets) > 0:
			if !sigs.add(sig, sigHMAC) {
				return errTooMany
			}
		case version == "v1a" && len(v.publicKeys) > 0:
			if !sigs.add(sig, sigEd25519) {
				return errTooMany
			}
		}
	}
	if sigs.n == 0 {
		return errNoSignature
	}
	return nil
}

// writeString feeds s to h without copying it.
func writeString(h hash.Hash, s string) {
	if s != "" {
		h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
	}
}
