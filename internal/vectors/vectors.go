// Package vectors reads the providers' own test artefacts from
// ../shared/vectors, the shared folder beside the project, for the tests of
// more than one package. A test that needs them is skipped when the folder
// is not there.
package vectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the vectors folder; the test is skipped when it is missing.
func Dir(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("vectors: cannot find own source")
	}
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "vectors")
	if _, err := os.Stat(d); err != nil {
		tb.Skipf("provider vectors not found at %s (the shared folder beside the project): %v", d, err)
	}
	return d
}

// Webhook is one entry of webhooks/vectors.json: an official signature
// vector from a provider's spec, SDK tests or docs.
type Webhook struct {
	Scheme          string            `json:"scheme"`
	Source          string            `json:"source"`
	Secret          string            `json:"secret"`
	PublicKey       string            `json:"public_key"`
	NotificationURL string            `json:"notification_url"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	Valid           bool              `json:"valid"`
	Message         string            `json:"message"`
	HMACHex         string            `json:"hmac_sha256_hex"`
	HMACKeyHex      string            `json:"hmac_key_hex"`
	Item            json.RawMessage   `json:"item"`
	SignedString    string            `json:"signed_string"`
	HMACSignature   string            `json:"hmacSignature"`
}

// Webhooks reads webhooks/vectors.json.
func Webhooks(tb testing.TB) []Webhook {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(tb), "webhooks", "vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Vectors []Webhook `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		tb.Fatal("vectors: webhooks/vectors.json holds no vector")
	}
	return f.Vectors
}
