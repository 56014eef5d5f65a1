package config

import "time"

// The presets of providers that sign their bodies. Each deadline is the
// provider's documented response timeout, or 10s where it documents none
// or a longer one; the README names the sources. Header templates are
// written {http.request.header.Name}: the Caddyfile adapter, which turns
// {header.Name} into that, does not see presets.

var presetStripe = &Preset{
	Name:      PresetStripe,
	Deadline:  10 * time.Second, // Stripe documents no number ("promptly")
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{json.id}"},
	Event:     "{json.type}",
	Outcomes: map[string]string{
		"payment_intent.succeeded":      OutcomeSuccess,
		"checkout.session.completed":    OutcomeSuccess,
		"invoice.paid":                  OutcomeSuccess,
		"charge.succeeded":              OutcomeSuccess,
		"payment_intent.payment_failed": OutcomeFailure,
		"invoice.payment_failed":        OutcomeFailure,
		"charge.failed":                 OutcomeFailure,
	},
	// The key is the endpoint secret's text, whsec_ included.
	Signature: &SignatureScheme{Syntax: SyntaxStripe, HMAC: HMAC{
		Header: "Stripe-Signature", Signed: "{signature.t}.{body}", Timestamp: "{signature.t}",
		Tolerance: durationPtr(5 * time.Minute), ToleranceFuture: durationPtr(time.Minute),
	}},
	Sample: Sample{
		Help:  `a Stripe event, {"id":"evt_<id>","type":<event>,…}, event payment_intent.succeeded by default`,
		Event: "payment_intent.succeeded",
		Body: textBody(`{"id":"evt_{id}","object":"event","api_version":"2024-06-20","created":{unix},"livemode":false,` +
			`"type":"{event}","data":{"object":{"id":"pi_{id}","object":"payment_intent","amount":2000,"currency":"usd","status":"succeeded"}}}`),
	},
}

var presetGitHub = &Preset{
	Name:      PresetGitHub,
	Deadline:  10 * time.Second, // "Respond within 10 seconds"
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{http.request.header.X-GitHub-Delivery}"},
	Event:     "{http.request.header.X-GitHub-Event}",
	Signature: &SignatureScheme{Syntax: SyntaxValue, HMAC: HMAC{Header: "X-Hub-Signature-256", Prefix: "sha256="}},
	Sample: Sample{
		Help:    `a GitHub push, with X-GitHub-Event <event> (push by default) and X-GitHub-Delivery <id>`,
		Event:   "push",
		Body:    textBody(`{"ref":"refs/heads/main","after":"{id}","repository":{"id":1296269,"full_name":"octo-org/demo"},"sender":{"login":"octocat"}}`),
		Headers: textHeaders(map[string]string{"X-GitHub-Event": "{event}", "X-GitHub-Delivery": "{id}", "X-GitHub-Hook-ID": "1"}),
	},
}

var presetShopify = &Preset{
	Name:      PresetShopify,
	Deadline:  4500 * time.Millisecond, // Shopify waits 5 s in all, connection included
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{http.request.header.X-Shopify-Webhook-Id}"},
	Event:     "{http.request.header.X-Shopify-Topic}",
	Signature: &SignatureScheme{
		Syntax:     SyntaxValue,
		Alternates: map[string]string{"X-Shopify-Hmac-Sha256": "Shopify-Hmac-Sha256"},
		HMAC:       HMAC{Header: "X-Shopify-Hmac-Sha256", Encoding: "base64"},
	},
	Sample: Sample{
		Help:  `a Shopify order, with X-Shopify-Topic <event> (orders/paid by default) and X-Shopify-Webhook-Id <id>`,
		Event: "orders/paid",
		Body:  textBody(`{"id":"{id}","name":"#1001","currency":"USD","total_price":"10.00","financial_status":"paid","created_at":"{time}"}`),
		Headers: textHeaders(map[string]string{
			"X-Shopify-Topic": "{event}", "X-Shopify-Webhook-Id": "{id}",
			"X-Shopify-Shop-Domain": "demo.myshopify.com", "X-Shopify-Triggered-At": "{time}",
		}),
	},
}

// standardWebhooksScheme is Standard Webhooks' signature with the header
// names of the given prefix (webhook or svix).
func standardWebhooksScheme(prefix string) HMAC {
	return HMAC{
		Header: prefix + "-signature", Encoding: "base64", SecretEncoding: "whsec",
		Signed:    "{http.request.header." + prefix + "-id}.{http.request.header." + prefix + "-timestamp}.{body}",
		Timestamp: "{http.request.header." + prefix + "-timestamp}",
		Tolerance: durationPtr(5 * time.Minute), ToleranceFuture: durationPtr(5 * time.Minute),
	}
}

var presetStandardWebhooks = &Preset{
	Name:      PresetStandardWebhooks,
	Deadline:  10 * time.Second, // the spec leaves the timeout to the sender
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{http.request.header.webhook-id}"},
	Event:     "{json.type}",
	Signature: &SignatureScheme{Syntax: SyntaxStandardWebhooks, HMAC: standardWebhooksScheme("webhook")},
	Sample: Sample{
		Help:    `{"type":<event>,"data":{"id":"inv_<id>"}}, webhook-id msg_<id>, event invoice.paid by default`,
		Event:   "invoice.paid",
		Body:    textBody(`{"type":"{event}","timestamp":"{time}","data":{"id":"inv_{id}","status":"paid"}}`),
		Headers: textHeaders(map[string]string{"webhook-id": "msg_{id}"}),
	},
}

var presetSvix = &Preset{
	Name:      PresetSvix,
	Deadline:  10 * time.Second, // Svix waits 15 s
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{http.request.header.svix-id}", "{http.request.header.webhook-id}"},
	Event:     "{json.type}",
	Signature: &SignatureScheme{
		Syntax: SyntaxStandardWebhooks,
		Alternates: map[string]string{
			"svix-id": "webhook-id", "svix-timestamp": "webhook-timestamp", "svix-signature": "webhook-signature",
		},
		HMAC: standardWebhooksScheme("svix"),
	},
	Sample: Sample{
		Help:    `{"type":<event>,"data":{"id":"inv_<id>"}}, svix-id msg_<id>, event invoice.paid by default`,
		Event:   "invoice.paid",
		Body:    textBody(`{"type":"{event}","timestamp":"{time}","data":{"id":"inv_{id}","status":"paid"}}`),
		Headers: textHeaders(map[string]string{"svix-id": "msg_{id}"}),
	},
}

var presetPaddle = &Preset{
	Name:      PresetPaddle,
	Deadline:  4500 * time.Millisecond, // "responding within five seconds"
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{json.notification_id}"},
	Event:     "{json.event_type}",
	Outcomes: map[string]string{
		"transaction.completed":      OutcomeSuccess,
		"transaction.paid":           OutcomeSuccess,
		"transaction.payment_failed": OutcomeFailure,
	},
	Signature: &SignatureScheme{Syntax: SyntaxPaddle, HMAC: HMAC{
		Header: "Paddle-Signature", Signed: "{signature.ts}:{body}", Timestamp: "{signature.ts}",
		Tolerance: durationPtr(5 * time.Second), ToleranceFuture: durationPtr(5 * time.Second),
	}},
	Sample: Sample{
		Help:  `a Paddle Billing event, notification_id ntf_<id>, event transaction.completed by default`,
		Event: "transaction.completed",
		Body: textBody(`{"event_id":"evt_{id}","event_type":"{event}","occurred_at":"{time}","notification_id":"ntf_{id}",` +
			`"data":{"id":"txn_{id}","status":"completed","currency_code":"USD"}}`),
	},
}

var presetRazorpay = &Preset{
	Name:      PresetRazorpay,
	Deadline:  4500 * time.Millisecond, // "within a window of 5 seconds"
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{http.request.header.X-Razorpay-Event-Id}"},
	Event:     "{json.event}",
	Outcomes: map[string]string{
		"payment.captured": OutcomeSuccess,
		"order.paid":       OutcomeSuccess,
		"payment.failed":   OutcomeFailure,
	},
	Signature: &SignatureScheme{Syntax: SyntaxValue, HMAC: HMAC{Header: "X-Razorpay-Signature"}},
	Sample: Sample{
		Help:  `a Razorpay event, X-Razorpay-Event-Id <id>, event payment.captured by default`,
		Event: "payment.captured",
		Body: textBody(`{"entity":"event","account_id":"acc_demo","event":"{event}","contains":["payment"],` +
			`"payload":{"payment":{"entity":{"id":"pay_{id}","amount":50000,"currency":"INR","status":"captured"}}},"created_at":{unix}}`),
		Headers: textHeaders(map[string]string{"X-Razorpay-Event-Id": "{id}"}),
	},
}

var presetSquare = &Preset{
	Name:      PresetSquare,
	Deadline:  10 * time.Second, // "responding within 10 seconds"
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{"{json.event_id}"},
	Event:     "{json.type}",
	// Square signs the notification URL as configured at Square: the
	// user must give it, it is never rebuilt from the request.
	Signature: &SignatureScheme{Syntax: SyntaxValue, HMAC: HMAC{
		Header: "x-square-hmacsha256-signature", Encoding: "base64", Signed: "{notification_url}{body}",
	}},
	Sample: Sample{
		Help:  `a Square event, event_id <id>, event payment.updated by default; needs the notification URL`,
		Event: "payment.updated",
		Body: textBody(`{"merchant_id":"MLDEMO","type":"{event}","event_id":"{id}","created_at":"{time}",` +
			`"data":{"type":"payment","id":"{id}","object":{"payment":{"id":"{id}","status":"COMPLETED"}}}}`),
	},
}

const adyenItem = "{json.notificationItems.0.NotificationRequestItem."

var presetAdyen = &Preset{
	Name:      PresetAdyen,
	Deadline:  10 * time.Second, // "within 10 seconds"
	DedupeTTL: 24 * time.Hour,
	Dedupe:    []string{adyenItem + "pspReference}:" + adyenItem + "eventCode}:" + adyenItem + "success}"},
	Event:     adyenItem + "eventCode}",
	Outcome:   adyenItem + "success}",
	Outcomes:  map[string]string{"true": OutcomeSuccess, "false": OutcomeFailure},
	// The HMAC key is shown in hex in Adyen's Customer Area.
	Signature: &SignatureScheme{Syntax: SyntaxAdyen, HMAC: HMAC{SecretEncoding: "hex", Encoding: "base64"}},
	Sample: Sample{
		Help:  `an Adyen notification of one item, pspReference <id>, eventCode <event> (AUTHORISATION by default)`,
		Event: "AUTHORISATION",
		Body: textBody(`{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"{id}",` +
			`"merchantAccountCode":"DemoShop","merchantReference":"order-{id}","amount":{"value":1130,"currency":"EUR"},` +
			`"eventCode":"{event}","eventDate":"{time}","success":"true","additionalData":{}}}]}`),
	},
}
