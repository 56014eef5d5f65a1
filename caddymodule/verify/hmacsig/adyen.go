package hmacsig

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

var (
	errAdyenNoItems   = verify.Fail(verify.ReasonMissingSignature, "hmac: the body holds no notificationItems")
	errAdyenNoSig     = verify.Fail(verify.ReasonMissingSignature, "hmac: a notification item has no additionalData.hmacSignature")
	errAdyenTooMany   = verify.Fail(verify.ReasonInvalidSignature, "hmac: too many notification items")
	errAdyenItemWrong = verify.Fail(verify.ReasonInvalidSignature, "hmac: a notification item's signature matches no key")
)

// adyenNotification is the part of Adyen's standard notification that is
// signed. Field values are kept as JSON text: the signed string holds
// them as sent, a number such as amount.value included.
type adyenNotification struct {
	NotificationItems []struct {
		Item *AdyenItem `json:"NotificationRequestItem"`
	} `json:"notificationItems"`
}

// AdyenItem is one NotificationRequestItem, as far as its signature goes.
type AdyenItem struct {
	PSPReference        json.RawMessage `json:"pspReference"`
	OriginalReference   json.RawMessage `json:"originalReference"`
	MerchantAccountCode json.RawMessage `json:"merchantAccountCode"`
	MerchantReference   json.RawMessage `json:"merchantReference"`
	Amount              struct {
		Value    json.RawMessage `json:"value"`
		Currency json.RawMessage `json:"currency"`
	} `json:"amount"`
	EventCode      json.RawMessage `json:"eventCode"`
	Success        json.RawMessage `json:"success"`
	AdditionalData struct {
		HMACSignature json.RawMessage `json:"hmacSignature"`
	} `json:"additionalData"`
}

// SignedString is what Adyen signs for an item:
// pspReference:originalReference:merchantAccountCode:merchantReference:
// amount.value:amount.currency:eventCode:success, a missing field empty.
func (it *AdyenItem) SignedString() []byte {
	var b bytes.Buffer
	for i, f := range []json.RawMessage{
		it.PSPReference, it.OriginalReference, it.MerchantAccountCode, it.MerchantReference,
		it.Amount.Value, it.Amount.Currency, it.EventCode, it.Success,
	} {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(jsonText(f))
	}
	return b.Bytes()
}

// jsonText is a JSON value as text: a string unquoted, null or absent
// empty, anything else as written.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	return string(raw)
}

// verifyAdyen checks every notification item: each must carry a signature
// that one of the keys made.
func (v *Verifier) verifyAdyen(body []byte, out *verify.Output) error {
	var n adyenNotification
	if err := json.Unmarshal(body, &n); err != nil || len(n.NotificationItems) == 0 {
		return errAdyenNoItems
	}
	if len(n.NotificationItems) > MaxItems {
		return errAdyenTooMany
	}
	for _, wrapper := range n.NotificationItems {
		if wrapper.Item == nil || jsonText(wrapper.Item.AdditionalData.HMACSignature) == "" {
			return errAdyenNoSig
		}
	}
	cred := ""
	for i, wrapper := range n.NotificationItems {
		item := wrapper.Item
		var sig [64]byte
		valid := 0
		if decodeSignature(v.encoding, jsonText(item.AdditionalData.HMACSignature), sig[:v.size]) {
			valid = 1
		}
		signed := item.SignedString()
		match := 0
		for _, k := range v.secrets {
			m := k.pool.Get().(*mac)
			m.h.Reset()
			m.h.Write(signed)
			ok := subtle.ConstantTimeCompare(m.h.Sum(m.sum[:0]), sig[:v.size]) & valid
			k.pool.Put(m)
			if ok == 1 && i == 0 && cred == "" {
				cred = k.fingerprint
			}
			match |= ok
		}
		if match != 1 {
			return errAdyenItemWrong
		}
	}
	out.Credential = cred
	return nil
}
