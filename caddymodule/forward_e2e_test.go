package caddymodule_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// forwardConfig guards /kept (deduplicated, a long deadline) and /plain
// (not deduplicated) over HTTP/1.1 and h2c, and /big with a small
// max_answer.
func forwardConfig(up *testcaddy.Upstream, store string) string {
	return fmt.Sprintf(`{
	admin @ADMIN@
	servers {
		protocols h1 h2c
	}
}
:@HTTP@ {
	handle /kept {
		callback_guard generic {
			header_secret X-Secret s3cret
			dedupe {json.id}
			deadline 20s
			%[2]s
		}
		reverse_proxy %[1]s
	}
	handle /plain {
		callback_guard generic {
			header_secret X-Secret s3cret
			deadline 20s
		}
		reverse_proxy %[1]s
	}
	handle /big {
		callback_guard generic {
			header_secret X-Secret s3cret
			dedupe {json.id}
			max_answer 64KiB
		}
		reverse_proxy %[1]s
	}
}
`, up.Addr(), store)
}

func h2cClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: p}}
}

// waitUntil polls cond for up to 5s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not reached in 5s: %s", what)
}

// Issue 10.6: HTTP/2 streams reset by the client. A forward that is not
// deduplicated ends with its stream; deduplicated ones run on, for their
// late answer, up to the guard's bound (256), and past it end too.
func TestResetStreamsDoNotPileUpForwards(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	var active atomic.Int32
	release := make(chan struct{})
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		active.Add(1)
		defer active.Add(-1)
		select {
		case <-release:
			fmt.Fprint(w, "late "+idOf(body))
		case <-r.Context().Done():
		}
	}
	c := testcaddy.Start(t, forwardConfig(up, ""))
	// Two connections: a connection carries at most 250 streams at once.
	clients := []*http.Client{h2cClient(), h2cClient()}
	resetAll := func(path string, n int) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		start := int(active.Load())
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				req := delivery(t, c.URL, path, fmt.Sprint(path, "-", i)).WithContext(ctx)
				if resp, err := clients[i%2].Do(req); err == nil {
					resp.Body.Close()
					t.Errorf("%s: an answer (%d) before the reset", path, resp.StatusCode)
				}
			})
		}
		waitUntil(t, fmt.Sprintf("%d forwards of %s at the backend", n, path), func() bool { return int(active.Load()) == start+n })
		cancel() // every stream is reset
		wg.Wait()
	}

	resetAll("/plain", 100)
	waitUntil(t, "the forwards of reset streams end", func() bool { return active.Load() == 0 })

	const bound, n = 256, 300
	resetAll("/kept", n)
	waitUntil(t, "the forwards past the bound end", func() bool { return active.Load() == bound })
	time.Sleep(300 * time.Millisecond)
	if a := active.Load(); a != bound {
		t.Fatalf("%d forwards kept past their clients, want the bound %d", a, bound)
	}

	// The kept forwards' late answers are stored; the others' keys were
	// released, and their retries are forwarded as attempt 2.
	close(release)
	waitUntil(t, "the kept forwards answer", func() bool { return active.Load() == 0 })
	up.Reset()
	replayed := 0
	for i := range n {
		a := do(t, delivery(t, c.URL, "/kept", fmt.Sprint("/kept-", i)))
		if a.status != 200 || a.body != fmt.Sprint("late /kept-", i) {
			t.Fatalf("retry %d: %d %q", i, a.status, a.body)
		}
		if a.header.Get("X-Callback-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != bound {
		t.Errorf("%d retries replayed, want the %d kept forwards' answers", replayed, bound)
	}
	for _, got := range up.Received() {
		if a := got.Header.Get("X-Callback-Attempt"); a != "2" {
			t.Errorf("%s forwarded again as attempt %q, want 2", idOf(got.Body), a)
		}
	}
}

// Issue 10.8: an answer over max_answer streams to the provider as it
// comes, is not stored, and its key is released as after a failed forward.
func TestAnswerOverMaxAnswerStreamsUnstored(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	const size = 200 << 10
	firstPart := make(chan struct{}, 4)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte(strings.Repeat("a", size-3)))
		http.NewResponseController(w).Flush()
		select { // the provider must have the first part before the end
		case <-firstPart:
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "end")
	}
	c := testcaddy.Start(t, forwardConfig(up, ""))
	for attempt := 1; attempt <= 2; attempt++ {
		resp, err := http.DefaultClient.Do(delivery(t, c.URL, "/big", "big-1"))
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() { _, err := io.ReadFull(resp.Body, make([]byte, 100<<10)); got <- err }()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("the first 100 KiB did not arrive before the backend's end: the answer was buffered whole")
		}
		firstPart <- struct{}{}
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(rest) != size-100<<10 || !strings.HasSuffix(string(rest), "end") {
			t.Fatalf("the rest of the answer: %d bytes, %v", len(rest), err)
		}
		if resp.Header.Get("X-Callback-Replayed") != "" {
			t.Fatal("a large answer was replayed")
		}
	}
	got := up.Received()
	if len(got) != 2 || got[1].Header.Get("X-Callback-Attempt") != "2" {
		t.Fatalf("the backend got %d requests; the retry must be attempt 2", len(got))
	}
}

// Issue 10.8: `store memory 1MiB` holds no more than 1 MiB of answers:
// of 36 answers of 1 MB, at most one is replayed.
func TestMemoryStoreSizeIsAHardBound(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		_, _ = w.Write(make([]byte, 1_000_000))
	}
	c := testcaddy.Start(t, forwardConfig(up, "store memory 1MiB"))
	for round := range 2 {
		for i := range 36 {
			if a := do(t, delivery(t, c.URL, "/kept", fmt.Sprint("mb-", i))); a.status != 200 || len(a.body) != 1_000_000 {
				t.Fatalf("round %d, answer %d: %d, %d bytes", round, i, a.status, len(a.body))
			}
		}
	}
	if forwarded := up.Count(); forwarded < 71 {
		t.Fatalf("%d of 36 answers of 1 MB were replayed from a 1 MiB store", 72-forwarded)
	}
}
