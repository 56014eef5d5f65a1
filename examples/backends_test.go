package examples_test

// End-to-end checks of the example backends in php/, node/ and python/:
// each runs behind a real Caddy with the guard, on the provider's Caddyfile
// from caddyfiles/, and gets a signed delivery from `caddy callback send`,
// as the README walks a new user through it. A runtime that is not
// installed is skipped with a message.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

type backendRuntime struct {
	name    string // the directory under examples/
	bin     string // the interpreter
	install string // how to get it
	args    func(root string, port int) []string
}

var backendRuntimes = []backendRuntime{
	{"php", "php", "apt-get install php-cli", func(root string, port int) []string {
		return []string{"-S", fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(root, "examples", "php", "index.php")}
	}},
	{"node", "node", "https://nodejs.org or apt-get install nodejs", func(root string, _ int) []string {
		return []string{filepath.Join(root, "examples", "node", "server.js")}
	}},
	{"python", "python3", "apt-get install python3", func(root string, _ int) []string {
		return []string{filepath.Join(root, "examples", "python", "server.py")}
	}},
}

// exampleProvider is one provider's Caddyfile and a delivery it accepts.
type exampleProvider struct {
	preset   string
	path     string
	creds    []string
	badCreds []string
	verified string
	status   string // the order's status after the delivery
}

func exampleProviderCases(root string) []exampleProvider {
	return []exampleProvider{
		{"glopal", "/glopal/callback",
			[]string{"--basic-auth", "glopal:demo-glopal-password"},
			[]string{"--basic-auth", "glopal:guessed"},
			"basic_auth", "reserved"},
		{"globiance", "/globiance/webhook",
			[]string{"--query-secret", "token=demo-globiance-secret"},
			[]string{"--query-secret", "token=guessed"},
			"query_secret", "paid"},
		{"avarda", "/avarda/purchase-completed",
			[]string{"--header-secret", "Authorization: Bearer demo-avarda-token"},
			[]string{"--header-secret", "Authorization: Bearer guessed"},
			"header_secret", "paid"},
		{"payglocal", "/payglocal/callback",
			[]string{"--jwt-key", filepath.Join(root, "examples", "demo", "payglocal-demo-private.pem"), "--kid", "demo-kid-1"},
			[]string{"--jwt-key", filepath.Join(root, "examples", "demo", "payglocal-demo-private.pem"), "--kid", "other-kid"},
			"jwt", "paid"},
		{"generic", "/generic/webhook",
			[]string{"--header-secret", "X-Shop-Secret: demo-generic-secret"},
			[]string{"--header-secret", "X-Shop-Secret: guessed"},
			"header_secret", "received"},
	}
}

func TestExampleBackends(t *testing.T) {
	root, err := testcaddy.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	testcaddy.Binary(t) // build once, before the parallel subtests
	for _, rt := range backendRuntimes {
		t.Run(rt.name, func(t *testing.T) {
			bin, err := exec.LookPath(rt.bin)
			if err != nil {
				t.Skipf("%s is not installed, so the %s example backend is not tested (%s)", rt.bin, rt.name, rt.install)
			}
			t.Parallel()
			for _, pc := range exampleProviderCases(root) {
				t.Run(pc.preset, func(t *testing.T) {
					testBackend(t, root, rt, bin, pc)
				})
			}
		})
	}
}

func testBackend(t *testing.T, root string, rt backendRuntime, bin string, pc exampleProvider) {
	be := startBackend(t, root, rt, bin)
	inst := testcaddy.Start(t, exampleCaddyfile(t, root, pc.preset, be.addr))
	id := fmt.Sprintf("ORD-%s-%s", rt.name, pc.preset)
	// One time for every send, so that a resend is the same delivery.
	at := time.Now().UTC().Format(time.RFC3339)
	send := func(creds []string, extra ...string) cliRun {
		args := append([]string{"callback", "send", pc.preset, "--to", inst.URL + pc.path, "--id", id, "--time", at}, creds...)
		return runCaddyCLI(t, root, append(args, extra...)...)
	}

	// The delivery reaches the backend, which updates the order.
	r := send(pc.creds)
	if r.code != 0 || !strings.Contains(r.stdout, "200 OK") || !strings.Contains(r.stdout, `"ok":true`) {
		t.Fatalf("send: %s\nbackend log:\n%s\ncaddy log:\n%s", r, be.log(), inst.Log())
	}
	o := be.order(t, id)
	if o.Status != pc.status || len(o.Events) != 1 {
		t.Fatalf("order %s after the delivery: status %q, %d events; want %q, 1\n%s", id, o.Status, len(o.Events), pc.status, be.log())
	}
	h := o.LastHeaders
	if h["X-Callback-Provider"] != pc.preset || h["X-Callback-Verified"] != pc.verified || h["X-Callback-Attempt"] != "1" ||
		h["X-Callback-Id"] == "" || h["X-Callback-Deadline"] == "" {
		t.Errorf("the backend saw X-Callback headers %v", h)
	}
	if o.Events[0].CallbackID != h["X-Callback-Id"] || o.Events[0].Provider != pc.preset {
		t.Errorf("event %+v", o.Events[0])
	}

	// The same delivery again, as a provider retries: the guard answers it
	// from its store and the backend is not called.
	file := be.file(t)
	r = send(pc.creds)
	if r.code != 0 || !strings.Contains(r.stdout, "X-Callback-Replayed: true") {
		t.Errorf("resend not replayed: %s", r)
	}
	if !bytes.Equal(be.file(t), file) {
		t.Errorf("a replayed delivery changed the orders file")
	}

	// A forged delivery: 401, exit 1, and the backend never sees it.
	r = send(pc.badCreds)
	if r.code != 1 || !strings.Contains(r.stdout, "401 Unauthorized") {
		t.Errorf("forged delivery: %s", r)
	}
	if !bytes.Equal(be.file(t), file) {
		t.Errorf("a rejected delivery changed the orders file")
	}

	// A verified delivery with a method the provider never uses: the
	// guard forwards it (it verifies any method), the backend refuses it.
	args := append([]string{"callback", "send", pc.preset, "--to", inst.URL + pc.path, "--id", id + "-PUT", "--time", at, "--method", "PUT"}, pc.creds...)
	if r := runCaddyCLI(t, root, args...); !strings.Contains(r.stdout, "405 Method Not Allowed") || !strings.Contains(r.stdout, "Allow: POST") {
		t.Errorf("a verified PUT: %s", r)
	}
	if !bytes.Equal(be.file(t), file) {
		t.Errorf("a delivery with the wrong method changed the orders file")
	}

	switch pc.preset {
	case "glopal":
		// The buyer's browser on the signed success URL confirms the order.
		r = runCaddyCLI(t, root, "callback", "send", "glopal", "--to", inst.URL+"/glopal/confirmation/DE/"+id+"?lang=de-DE&currency=EUR",
			"--signed-url", "sig=demo-glopal-hmac-secret")
		if r.code != 0 {
			t.Fatalf("signed confirmation URL: %s\n%s", r, be.log())
		}
		if o := be.order(t, id); o.Status != "confirmed" || len(o.Events) != 2 || o.LastHeaders["X-Callback-Verified"] != "signed_url" {
			t.Errorf("after the confirmation page: %+v", o)
		}
		// A buyer POSTing a body of their own to their signed URL: the
		// signature covers the URL only, so the backend takes it as a GET
		// only.
		confirmed := be.file(t)
		r = runCaddyCLI(t, root, "callback", "send", "glopal", "--to", inst.URL+"/glopal/confirmation/DE/"+id+"?lang=de-DE&currency=EUR",
			"--signed-url", "sig=demo-glopal-hmac-secret", "--method", "POST", "--body", `{"checkout_id":"`+id+`","type":"CHECKOUT_PURCHASE"}`)
		if !strings.Contains(r.stdout, "405 Method Not Allowed") || !strings.Contains(r.stdout, "Allow: GET") || !bytes.Equal(be.file(t), confirmed) {
			t.Errorf("a POST to a signed confirmation URL: %s", r)
		}
	case "avarda":
		// The backend's own idempotency: a callback id it has applied is
		// not applied again (as after a Caddy restart emptied the store).
		resp := be.post(t, map[string]string{
			"X-Callback-Provider": "avarda", "X-Callback-Verified": "header_secret",
			"X-Callback-Id": h["X-Callback-Id"], "X-Callback-Attempt": "1",
			"X-Callback-Event": "purchase.completed", "X-Callback-Outcome": "success",
		}, `{"purchaseId":"`+id+`"}`)
		if !strings.Contains(resp, `"duplicate":true`) || !bytes.Equal(be.file(t), file) {
			t.Errorf("the backend applied a callback id twice: %s", resp)
		}
		// A request that did not come through the guard is refused.
		if resp := be.post(t, nil, `{"purchaseId":"`+id+`"}`); !strings.Contains(resp, "403") {
			t.Errorf("the backend accepted a request without X-Callback headers: %s", resp)
		}
	case "payglocal":
		testBackendIgnoresBodyToken(t, be, id)
	}
}

// testBackendIgnoresBodyToken: a backend reads PayGlocal's claims from
// X-Callback-Claims only, never from a token in the body, which the guard
// may not have verified (it is posted straight to the backend here, as a
// request that got past a guard with another token would arrive).
func testBackendIgnoresBodyToken(t *testing.T, be *exampleBackend, id string) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	unsigned := func(order string) string {
		return b64(`{"alg":"none"}`) + "." + b64(`{"gid":"`+order+`","merchantUniqueId":"`+order+`","status":"SENT_FOR_CAPTURE"}`) + "."
	}
	guard := map[string]string{
		"X-Callback-Provider": "payglocal", "X-Callback-Verified": "jwt", "X-Callback-Attempt": "1",
		"X-Callback-Event": "SENT_FOR_CAPTURE", "X-Callback-Outcome": "success",
	}
	forged := id + "-FORGED"
	for _, body := range []string{
		"x-gl-token=" + unsigned(forged),
		`{"x-gl-token":"` + unsigned(forged) + `"}`,
	} {
		// Without X-Callback-Claims there is no order to update.
		h := maps.Clone(guard)
		h["X-Callback-Id"] = "no-claims-" + body[:1]
		before := be.file(t)
		resp := be.postAs(t, "application/x-www-form-urlencoded", h, body)
		if !strings.HasPrefix(resp, "422") || !bytes.Equal(be.file(t), before) {
			t.Errorf("without X-Callback-Claims, a body token was read: %s", resp)
		}
		// With them, the claims name the order; the body's token is ignored.
		h["X-Callback-Id"] = "claims-" + body[:1]
		h["X-Callback-Claims"] = b64(`{"gid":"` + id + `","merchantUniqueId":"` + id + `","status":"SENT_FOR_CAPTURE"}`)
		resp = be.postAs(t, "application/x-www-form-urlencoded", h, body)
		if !strings.HasPrefix(resp, "200") || !strings.Contains(resp, `"order":"`+id+`"`) {
			t.Errorf("with X-Callback-Claims: %s", resp)
		}
	}
	if bytes.Contains(be.file(t), []byte(forged)) {
		t.Errorf("the backend recorded the order %s named only by a token in the body", forged)
	}
}

// exampleCaddyfile is examples/caddyfiles/<preset>.Caddyfile on the test's
// ports, with the backend's address and absolute key paths.
func exampleCaddyfile(t *testing.T, root, preset, backend string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "examples", "caddyfiles", preset+".Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{":8080 {", "127.0.0.1:9000"} {
		if !strings.Contains(cfg, want) {
			t.Fatalf("%s.Caddyfile has no %q", preset, want)
		}
	}
	cfg = strings.Replace(cfg, ":8080 {", ":@HTTP@ {", 1)
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:9000", backend)
	cfg = strings.ReplaceAll(cfg, " examples/demo/", " "+filepath.Join(root, "examples", "demo")+"/")
	return "{\n\tadmin @ADMIN@\n}\n" + cfg
}

type cliRun struct {
	stdout, stderr string
	code           int
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// runCaddyCLI runs the built caddy binary in dir.
func runCaddyCLI(t *testing.T, dir string, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(testcaddy.Binary(t), args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := cliRun{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// backend is a running example backend.
type exampleBackend struct {
	addr   string
	orders string
	mu     sync.Mutex
	out    bytes.Buffer
}

func (b *exampleBackend) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

func (b *exampleBackend) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func startBackend(t *testing.T, root string, rt backendRuntime, bin string) *exampleBackend {
	t.Helper()
	port := testcaddy.FreePort(t)
	dir := t.TempDir()
	be := &exampleBackend{addr: fmt.Sprintf("127.0.0.1:%d", port), orders: filepath.Join(dir, "orders.json")}
	cmd := exec.Command(bin, rt.args(root, port)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprint("PORT=", port), "HOST=127.0.0.1", "ORDERS_FILE="+be.orders)
	cmd.Stdout, cmd.Stderr = be, be
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", be.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return be
		}
		select {
		case <-done:
			t.Fatalf("the %s backend exited at start:\n%s", rt.name, be.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s backend did not listen within 20s:\n%s", rt.name, be.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type exampleOrder struct {
	ID          string            `json:"id"`
	Provider    string            `json:"provider"`
	Status      string            `json:"status"`
	LastHeaders map[string]string `json:"last_headers"`
	Events      []struct {
		Provider   string `json:"provider"`
		CallbackID string `json:"callback_id"`
		Event      string `json:"event"`
		Outcome    string `json:"outcome"`
		Attempt    int    `json:"attempt"`
	} `json:"events"`
}

func (b *exampleBackend) file(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(b.orders)
	if err != nil {
		t.Fatalf("the orders file: %v\nbackend log:\n%s", err, b.log())
	}
	return data
}

// order reads one order from the file, and checks that the backend's
// GET /orders/<id> shows the same.
func (b *exampleBackend) order(t *testing.T, id string) exampleOrder {
	t.Helper()
	var store struct {
		Orders map[string]exampleOrder `json:"orders"`
	}
	if err := json.Unmarshal(b.file(t), &store); err != nil {
		t.Fatalf("the orders file is not JSON: %v", err)
	}
	o, ok := store.Orders[id]
	if !ok {
		t.Fatalf("no order %s in the file:\n%s\nbackend log:\n%s", id, b.file(t), b.log())
	}
	resp, err := http.Get("http://" + b.addr + "/orders/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var viaHTTP exampleOrder
	if err := json.NewDecoder(resp.Body).Decode(&viaHTTP); err != nil || viaHTTP.Status != o.Status {
		t.Errorf("GET /orders/%s: %v %+v", id, err, viaHTTP)
	}
	return o
}

// post sends a JSON request straight to the backend, bypassing the guard.
func (b *exampleBackend) post(t *testing.T, headers map[string]string, body string) string {
	t.Helper()
	return b.postAs(t, "application/json", headers, body)
}

// postAs sends a request with that Content-Type straight to the backend.
func (b *exampleBackend) postAs(t *testing.T, contentType string, headers map[string]string, body string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+b.addr+"/callback", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, data)
}
