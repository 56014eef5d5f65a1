package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
	"github.com/callbackguard/callbackguard/config"
)

// sampleHeaders adds the headers the provider sends besides its signature
// (event and delivery ids), before the user's, which may replace them.
func (b *builder) sampleHeaders() error {
	if b.preset.Sample.Headers == nil {
		return nil
	}
	h := b.preset.Sample.Headers(b.in)
	// A stable order, so that the same flags print the same delivery.
	for _, k := range slices.Sorted(maps.Keys(h)) {
		b.d.setHeader(k, h[k])
	}
	return nil
}

// hmacScheme resolves the preset's signature scheme, with the --hmac
// options laid over it, as the guard's Caddyfile block would be.
func (f *signFlags) hmacScheme(preset string, notificationURL string) (*config.SignatureScheme, error) {
	user := &config.HMAC{Secrets: []string{f.secret}, NotificationURL: f.notificationURL}
	for _, o := range f.hmacOpts {
		if err := setHMACOption(user, o); err != nil {
			return nil, usagef("--hmac %q: %v", o, err)
		}
	}
	if p, _ := config.LookupPreset(preset); user.NotificationURL == "" && signsURL(p, user) {
		user.NotificationURL = notificationURL
	}
	settings, err := (&config.Guard{Preset: preset, HMAC: user}).Resolve()
	if err != nil {
		return nil, usagef("%v", err)
	}
	return settings.HMAC, nil
}

// signsURL tells whether the scheme signs the notification URL (Square).
func signsURL(p *config.Preset, user *config.HMAC) bool {
	signed := user.Signed
	if signed == "" && p.Signature != nil {
		signed = p.Signature.HMAC.Signed
	}
	return strings.Contains(signed, "{notification_url}")
}

// setHMACOption sets one option of an hmac block, written name=value.
func setHMACOption(h *config.HMAC, opt string) error {
	name, value, ok := strings.Cut(opt, "=")
	if !ok || value == "" {
		return errors.New("want <option>=<value>, e.g. header=X-Signature")
	}
	switch name {
	case "header":
		h.Header = value
	case "prefix":
		h.Prefix = value
	case "algorithm":
		h.Algorithm = value
	case "encoding":
		h.Encoding = value
	case "secret_encoding":
		h.SecretEncoding = value
	case "signed":
		h.Signed = value
	case "timestamp":
		h.Timestamp = value
	case "tolerance", "tolerance_future":
		// Accepted so that a block can be copied whole; signing ignores them.
		if _, err := caddy.ParseDuration(value); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown option %q: want header, prefix, algorithm, encoding, secret_encoding, signed or timestamp", name)
	}
	return nil
}

// signHMAC signs the body as the preset's provider does, when --secret is
// given: the signature header (and the timestamp header the scheme reads),
// or, for Adyen, each notification item's hmacSignature.
func (b *builder) signHMAC() error {
	f := b.f
	if f.secret == "" {
		if len(f.hmacOpts) > 0 || f.notificationURL != "" || f.timestamp != "" {
			return usagef("--hmac, --notification-url and --timestamp need --secret")
		}
		return nil
	}
	if b.preset.Signature == nil && len(f.hmacOpts) == 0 {
		return usagef("%s signs no body: --secret needs --hmac header=<Name> (the guard's hmac block)", b.preset.Name)
	}
	ts := b.in.Time
	if f.timestamp != "" {
		t, err := parseAt(f.timestamp)
		if err != nil {
			return usagef("--timestamp: %v", err)
		}
		ts = t
	}
	s, err := f.hmacScheme(b.preset.Name, b.d.url)
	if err != nil {
		return err
	}
	if f.timestamp != "" && s.HMAC.Timestamp == "" {
		b.warnings = append(b.warnings, "--timestamp is ignored: the "+b.preset.Name+" scheme signs no timestamp")
	}
	if s.Syntax == config.SyntaxAdyen {
		return b.signAdyen(s.HMAC.Secrets[0])
	}
	h := make(http.Header, len(b.d.header))
	for _, kv := range b.d.header {
		h.Set(kv[0], kv[1])
	}
	if err := hmacsig.Sign(hmacsig.SchemeOf(s), f.secret, s.HMAC.SecretEncoding, h, b.d.body, ts); err != nil {
		return usagef("signing: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if b.d.getHeader(name) != h.Get(name) {
			b.d.setHeader(name, h.Get(name))
		}
	}
	return nil
}

// signAdyen sets additionalData.hmacSignature in every notification item.
// The items are rewritten as JSON objects: their values are kept as
// written, the key order is not (Adyen's signature does not cover it).
func (b *builder) signAdyen(hexKey string) error {
	var body map[string]json.RawMessage
	var items []map[string]map[string]json.RawMessage
	if json.Unmarshal(b.d.body, &body) != nil || json.Unmarshal(body["notificationItems"], &items) != nil || len(items) == 0 {
		return usagef("adyen: the body is not a notification with notificationItems")
	}
	for i, wrapper := range items {
		item := wrapper["NotificationRequestItem"]
		raw, _ := json.Marshal(item)
		var parsed hmacsig.AdyenItem
		if item == nil || json.Unmarshal(raw, &parsed) != nil {
			return usagef("adyen: notification item %d is not a NotificationRequestItem object", i)
		}
		sig, err := hmacsig.SignAdyenItem(&parsed, hexKey)
		if err != nil {
			return usagef("adyen: --secret: %v (Adyen's HMAC key is hex)", err)
		}
		var extra map[string]json.RawMessage
		if len(item["additionalData"]) > 0 && json.Unmarshal(item["additionalData"], &extra) != nil {
			return usagef("adyen: notification item %d: additionalData is not an object", i)
		}
		if extra == nil {
			extra = map[string]json.RawMessage{}
		}
		extra["hmacSignature"], _ = json.Marshal(sig)
		item["additionalData"], _ = json.Marshal(extra)
	}
	body["notificationItems"], _ = json.Marshal(items)
	b.d.body, _ = json.Marshal(body)
	return nil
}
