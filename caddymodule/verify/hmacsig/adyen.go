package hmacsig

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"strings"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

var (
	errAdyenNoItems   = verify.Fail(verify.ReasonMissingSignature, "hmac: the body holds no notificationItems")
	errAdyenNoSig     = verify.Fail(verify.ReasonMissingSignature, "hmac: a notification item has no additionalData.hmacSignature")
	errAdyenTooMany   = verify.Fail(verify.ReasonInvalidSignature, "hmac: too many notification items")
	errAdyenItemWrong = verify.Fail(verify.ReasonInvalidSignature, "hmac: a notification item's signature matches no key")
	errAdyenFolded    = verify.Fail(verify.ReasonInvalidSignature, "hmac: a key differs from a signed field's name only in case")
)

// AdyenItem is one NotificationRequestItem, as far as its signature goes.
// Field values are kept as JSON text: the signed string holds them as
// sent, a number such as amount.value included.
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
	items, err := adyenItems(body)
	if err != nil {
		return err
	}
	cred := ""
	for i, item := range items {
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

// adyenItems reads the notification items with exact keys, as PHP, Node,
// Python and the guard's templates read them (the last of duplicate keys
// wins), so that the items verified are the items the backend and
// X-Callback-Id read. Go's encoding/json would match keys in any case and
// read another spelling of a field than they do.
func adyenItems(body []byte) ([]*AdyenItem, error) {
	top, err := adyenObject(body, "notificationItems")
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if json.Unmarshal(top["notificationItems"], &raws) != nil || len(raws) == 0 {
		return nil, errAdyenNoItems
	}
	if len(raws) > MaxItems {
		return nil, errAdyenTooMany
	}
	items := make([]*AdyenItem, len(raws))
	for i, raw := range raws {
		wrapper, err := adyenObject(raw, "NotificationRequestItem")
		if err != nil {
			return nil, err
		}
		if items[i], err = adyenItem(wrapper["NotificationRequestItem"]); err != nil {
			return nil, err
		}
		if jsonText(items[i].AdditionalData.HMACSignature) == "" {
			return nil, errAdyenNoSig
		}
	}
	return items, nil
}

func adyenItem(raw json.RawMessage) (*AdyenItem, error) {
	f, err := adyenObject(raw, "pspReference", "originalReference", "merchantAccountCode",
		"merchantReference", "amount", "eventCode", "success", "additionalData")
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, errAdyenNoSig
	}
	amount, err := adyenObject(f["amount"], "value", "currency")
	if err != nil {
		return nil, err
	}
	extra, err := adyenObject(f["additionalData"], "hmacSignature")
	if err != nil {
		return nil, err
	}
	it := &AdyenItem{
		PSPReference:        f["pspReference"],
		OriginalReference:   f["originalReference"],
		MerchantAccountCode: f["merchantAccountCode"],
		MerchantReference:   f["merchantReference"],
		EventCode:           f["eventCode"],
		Success:             f["success"],
	}
	it.Amount.Value, it.Amount.Currency = amount["value"], amount["currency"]
	it.AdditionalData.HMACSignature = extra["hmacSignature"]
	return it, nil
}

// adyenObject decodes a JSON object (absent or null: nil) with exact keys.
// A key that equals a wanted name only under case folding is refused: a
// Go backend decoding into a struct would read it for that field.
func adyenObject(raw json.RawMessage, wanted ...string) (map[string]json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, errAdyenNoItems
	}
	for k := range m {
		for _, w := range wanted {
			if k != w && strings.EqualFold(k, w) {
				return nil, errAdyenFolded
			}
		}
	}
	return m, nil
}
