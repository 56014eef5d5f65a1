package config

import "time"

// Preset is what a provider's name in `callback_guard <preset>` stands for:
// the defaults of the Presets table of the contract and how the guard derives
// X-Callback-Event and X-Callback-Outcome for that provider.
type Preset struct {
	// Name is the preset's name, also the X-Callback-Provider value and the
	// provider label of the metrics.
	Name string
	// Deadline is how long the provider waits for an answer.
	Deadline time.Duration
	// DedupeTTL is how long a stored answer is replayed.
	DedupeTTL time.Duration
	// Dedupe lists the default key templates; the first that resolves wins.
	// Nil means deduplication is off by default.
	Dedupe []string
	// OptionalPlaceholders are placeholder-name prefixes that may resolve
	// to an empty value without making the preset's default dedupe
	// template unresolved (Globiance's checkout events carry no
	// payload.payment). A user's own templates get no such exception.
	OptionalPlaceholders []string
	// Event is the template of X-Callback-Event; empty means none. A literal
	// template (no placeholder) is a fixed event.
	Event string
	// Outcome is the template whose value Outcomes maps, when it is not
	// the event (Adyen's success flag); empty means the event.
	Outcome string
	// Outcomes maps an event (or Outcome) value to X-Callback-Outcome.
	Outcomes map[string]string
	// OutcomeDefault is the outcome of a known event that Outcomes does not
	// list; empty means no header.
	OutcomeDefault string
	// ForwardClaims is the default forward_claims mode; empty: off.
	ForwardClaims string
	// JWT holds the token defaults of the preset (nil: none). The user's
	// jwt block is laid over it: an explicit `from` replaces the sources,
	// an explicit `algs` replaces the algorithms.
	JWT *JWT
	// Sample is the test delivery `caddy callback sign` makes for the
	// preset (samples.go).
	Sample Sample
	// Signature is how the provider signs its bodies (nil: no scheme of
	// its own; an hmac block then needs a header). The user's hmac block
	// is laid over it.
	Signature *SignatureScheme
}

// Outcome values of X-Callback-Outcome.
const (
	OutcomeSuccess = "success"
	OutcomePending = "pending"
	OutcomeFailure = "failure"
)

// The preset names.
const (
	PresetGlopal    = "glopal"
	PresetGlobiance = "globiance"
	PresetAvarda    = "avarda"
	PresetPayGlocal = "payglocal"
	PresetGeneric   = "generic"

	PresetStripe           = "stripe"
	PresetGitHub           = "github"
	PresetShopify          = "shopify"
	PresetStandardWebhooks = "standard_webhooks"
	PresetSvix             = "svix"
	PresetPaddle           = "paddle"
	PresetRazorpay         = "razorpay"
	PresetSquare           = "square"
	PresetAdyen            = "adyen"
)

// PresetNames lists the presets in the order the documentation shows them.
var PresetNames = []string{
	PresetGlopal, PresetGlobiance, PresetAvarda, PresetPayGlocal,
	PresetStripe, PresetGitHub, PresetShopify, PresetStandardWebhooks, PresetSvix,
	PresetPaddle, PresetRazorpay, PresetSquare, PresetAdyen,
	PresetGeneric,
}

var presets = map[string]*Preset{
	// Glopal's checkout callbacks are synchronous questions with a 5 s
	// timeout and up to 3 retries within seconds: answer before Glopal gives
	// up, and keep answers only as long as the retries come.
	PresetGlopal: {
		Name:      PresetGlopal,
		Deadline:  4500 * time.Millisecond,
		DedupeTTL: 10 * time.Minute,
		Dedupe:    []string{"{body.sha256}"},
		Sample: Sample{
			Help: `checkout callback {"type":<event>,"checkout_id":<id>} (POST);
with --signed-url and no body: the confirmation-page redirect,
a GET of the signed --to URL.
--event INVENTORY_CHECK (default) or CHECKOUT_PURCHASE`,
			Event:             "INVENTORY_CHECK",
			Body:              glopalSample,
			SignedURLRedirect: true,
		},
	},
	PresetGlobiance: {
		Name:      PresetGlobiance,
		Deadline:  10 * time.Second,
		DedupeTTL: 24 * time.Hour,
		Dedupe: []string{
			"{json.type}:{json.event}:{json.checkoutId}:{json.payload.payment.paymentId}:{json.payload.payment.timestamp}",
		},
		OptionalPlaceholders: []string{"json.payload.payment."},
		Event:                "{json.type}.{json.event}",
		Outcomes: map[string]string{
			"checkout.completed": OutcomeSuccess,
			"payment.confirmed":  OutcomeSuccess,
			"payment.settled":    OutcomeSuccess,
			"checkout.cancelled": OutcomeFailure,
			"checkout.expired":   OutcomeFailure,
		},
		Sample: Sample{
			Help: `webhook as Globiance documents it; checkoutId <id>, paymentId
pay-<id>. --event <type>.<event>: payment.confirmed (default),
payment.update, payment.settled, payment.dispute,
"payment.refund success", "payment.refund rejected",
checkout.completed, checkout.cancelled, checkout.expired`,
			Event: "payment.confirmed",
			Body:  globianceSample,
		},
	},
	PresetAvarda: {
		Name:           PresetAvarda,
		Deadline:       10 * time.Second,
		DedupeTTL:      24 * time.Hour,
		Dedupe:         []string{"{json.purchaseId}"},
		Event:          "purchase.completed",
		OutcomeDefault: OutcomeSuccess,
		Sample: Sample{
			Help:  `purchase-completed callback {"purchaseId":<id>}`,
			Event: "purchase.completed",
			Body:  avardaSample,
			NewID: avardaID,
		},
	},
	PresetPayGlocal: {
		Name:      PresetPayGlocal,
		Deadline:  10 * time.Second,
		DedupeTTL: 24 * time.Hour,
		Dedupe:    []string{"{claim.gid}:{claim.status}", "{claim.x-gl-gid}:{claim.status}", "{body.sha256}"},
		Event:     "{claim.status}",
		Outcomes: map[string]string{
			"SENT_FOR_CAPTURE": OutcomeSuccess,
			"AUTHORIZED":       OutcomePending,
		},
		OutcomeDefault: OutcomeFailure,
		// The backend reads the claims from X-Callback-Claims and never
		// parses the token itself, so it reads nothing the guard did not
		// verify.
		ForwardClaims: ForwardClaimsHeader,
		// PayGlocal's browser form post carries x-gl-token as a form field;
		// some of its pages send it as a header or a JSON field instead.
		JWT: &JWT{
			From: []TokenSource{
				{Source: SourceForm, Name: "x-gl-token"},
				{Source: SourceJSON, Name: "x-gl-token"},
				{Source: SourceHeader, Name: "x-gl-token"},
			},
			Algs: []string{"RS256"},
		},
		Sample: Sample{
			Help: `form post x-gl-token=<RS256 JWT> shaped like PayGlocal's:
header issued-by, is-digested, kid; claims gid and x-gl-gid
gl_<id>, merchantUniqueId <id>, status <event>
(SENT_FOR_CAPTURE by default; AUTHORIZED, ISSUER_DECLINE, ...),
x-gl-merchantId, iat (a string of milliseconds), exp 300000
(a lifetime in ms). Needs --jwt-key (and --kid).`,
			Event: "SENT_FOR_CAPTURE",
			JWT: &SampleJWT{
				In:     TokenSource{Source: SourceForm, Name: "x-gl-token"},
				Header: map[string]any{"issued-by": "GlocalDemo", "is-digested": "false"},
				NoTyp:  true,
				Claims: payglocalClaims,
			},
		},
	},
	PresetGeneric: {
		Name:      PresetGeneric,
		Deadline:  10 * time.Second,
		DedupeTTL: 24 * time.Hour,
		Sample: Sample{
			Help:  `{"id":"evt_<id>","type":<event>,"order_id":<id>}, event order.paid by default`,
			Event: "order.paid",
			Body:  genericSample,
		},
	},
	// The signed-body providers: presets_signed.go.
	PresetStripe:           presetStripe,
	PresetGitHub:           presetGitHub,
	PresetShopify:          presetShopify,
	PresetStandardWebhooks: presetStandardWebhooks,
	PresetSvix:             presetSvix,
	PresetPaddle:           presetPaddle,
	PresetRazorpay:         presetRazorpay,
	PresetSquare:           presetSquare,
	PresetAdyen:            presetAdyen,
}

// LookupPreset returns the preset of that name.
func LookupPreset(name string) (*Preset, bool) {
	p, ok := presets[name]
	return p, ok
}
