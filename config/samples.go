package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sample is what `caddy callback sign` makes for a preset: a test delivery
// shaped like the provider's own, which the preset's guard accepts once
// the credentials are added.
type Sample struct {
	// Help describes the delivery in the command's help, after the
	// preset's name: its body, its events, what it needs.
	Help string
	// Event is the event of a delivery when --event is not given.
	Event string
	// Body makes the delivery's body. Nil: the delivery carries only its
	// token (see JWT).
	Body func(SampleInput) ([]byte, error)
	// ContentType is Body's media type. Default: application/json.
	ContentType string
	// NewID makes a random order id in the provider's form. Nil: "ord-"
	// and 8 hex digits.
	NewID func() string
	// JWT, when set, is the signed token every delivery of the preset
	// carries: --jwt-key or --jwt-secret is then required.
	JWT *SampleJWT
	// SignedURLRedirect makes a delivery with a signed URL and no body a
	// GET of that URL: the provider's redirect of the buyer's browser.
	SignedURLRedirect bool
	// Headers makes the headers the provider sends besides its signature
	// (event and delivery ids). Nil: none.
	Headers func(SampleInput) map[string]string
}

// SampleInput is what one sample delivery is made of.
type SampleInput struct {
	// Event is the event (the preset's Sample.Event unless given).
	Event string
	// ID is the order, purchase or checkout id.
	ID string
	// Time is when the delivery is made: UTC, whole seconds.
	Time time.Time
}

// SampleJWT is the token of a preset's deliveries.
type SampleJWT struct {
	// In is where the token goes (--jwt-in overrides it).
	In TokenSource
	// Header holds fields added to the token's header.
	Header map[string]any
	// NoTyp drops the typ field that JWT libraries add to the header.
	NoTyp bool
	// Claims makes the claims, instead of iat and exp from --jwt-ttl.
	Claims func(SampleInput) map[string]any
}

func glopalSample(in SampleInput) ([]byte, error) {
	return json.Marshal(struct {
		Type       string `json:"type"`
		CheckoutID string `json:"checkout_id"`
	}{in.Event, in.ID})
}

// globianceSample is a webhook as Globiance documents it; the event is
// <type>.<event>.
func globianceSample(in SampleInput) ([]byte, error) {
	typ, event, ok := strings.Cut(in.Event, ".")
	if !ok || typ == "" || event == "" {
		return nil, errors.New("globiance events are <type>.<event>, e.g. payment.confirmed or checkout.completed")
	}
	type payment struct {
		PaymentID         string `json:"paymentId"`
		CheckoutID        string `json:"checkoutId"`
		CurrencyName      string `json:"currencyName"`
		Amount            int    `json:"amount"`
		AmountDistributed int    `json:"amountDistributed"`
		TransactionType   string `json:"transactionType"`
		Status            string `json:"status"`
		IsUnderDispute    bool   `json:"isUnderDispute"`
		Refunded          bool   `json:"refunded"`
		Timestamp         string `json:"timestamp"`
	}
	type payload struct {
		CheckoutID string   `json:"checkoutId,omitempty"`
		Payment    *payment `json:"payment,omitempty"`
	}
	p := payload{CheckoutID: in.ID}
	if typ == "payment" {
		p = payload{Payment: &payment{
			PaymentID: "pay-" + in.ID, CheckoutID: in.ID, CurrencyName: "USD",
			Amount: 100, AmountDistributed: 90, TransactionType: "wallet",
			Status: "confirmed", Refunded: strings.HasPrefix(event, "refund success"),
			IsUnderDispute: event == "dispute", Timestamp: in.Time.Format(time.RFC3339),
		}}
	}
	return json.Marshal(struct {
		Event        string  `json:"event"`
		CheckoutID   string  `json:"checkoutId"`
		StoreID      string  `json:"storeId"`
		Type         string  `json:"type"`
		CheckoutTime string  `json:"checkoutTime"`
		ClientID     string  `json:"clientId"`
		ItemID       *string `json:"itemId"`
		ItemName     string  `json:"itemName"`
		Note         *string `json:"note"`
		Payload      payload `json:"payload"`
	}{event, in.ID, "store123", typ, in.Time.Add(-5 * time.Minute).Format(time.RFC3339), "client123", nil, "Example Item", nil, p})
}

func avardaSample(in SampleInput) ([]byte, error) {
	if in.Event != "purchase.completed" {
		return nil, errors.New("avarda has one event, purchase.completed")
	}
	return json.Marshal(struct {
		PurchaseID string `json:"purchaseId"`
	}{in.ID})
}

// avardaID is 32 hex digits, as Avarda's purchase ids are.
func avardaID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// payglocalClaims are shaped like PayGlocal's: iat a string of
// milliseconds, exp a lifetime in milliseconds.
func payglocalClaims(in SampleInput) map[string]any {
	return map[string]any{
		"gid":              "gl_" + in.ID,
		"x-gl-gid":         "gl_" + in.ID,
		"merchantUniqueId": in.ID,
		"status":           in.Event,
		"x-gl-merchantId":  "demo_merchant",
		"iat":              strconv.FormatInt(in.Time.UnixMilli(), 10),
		"exp":              300000,
	}
}

func genericSample(in SampleInput) ([]byte, error) {
	return json.Marshal(struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		OrderID string `json:"order_id"`
		Created string `json:"created"`
	}{"evt_" + in.ID, in.Event, in.ID, in.Time.Format(time.RFC3339)})
}
