package caddymodule

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/callbackguard/callbackguard/config"
)

// The deliver paths, in process: ServeHTTP with httptest and a next
// handler that plays the backend.

// backend is a next handler that counts its calls and records the
// X-Callback-Attempt of each.
type backend struct {
	calls    atomic.Int32
	mu       sync.Mutex
	attempts []string
	answer   func(w http.ResponseWriter, r *http.Request, call int32) // default: 200 "ok"
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, r.Body)
	call := b.calls.Add(1)
	b.mu.Lock()
	b.attempts = append(b.attempts, r.Header.Get(hdrAttempt))
	b.mu.Unlock()
	if b.answer != nil {
		b.answer(w, r, call)
		return nil
	}
	_, _ = io.WriteString(w, "ok")
	return nil
}

func (b *backend) attemptsSeen() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.attempts, ",")
}

// secretGuard is a generic guard deduplicating on {json.id}.
func secretGuard(extra func(*config.Guard)) config.Guard {
	g := config.Guard{
		Preset:       "generic",
		HeaderSecret: []config.HeaderSecret{{Header: "X-Secret", Value: "s3cret"}},
		Dedupe:       []string{"{json.id}"},
	}
	if extra != nil {
		extra(&g)
	}
	return g
}

// post delivers {"id": id} through h to next; proto 2 takes the HTTP/2
// path.
func post(t *testing.T, h *Handler, next caddyhttp.Handler, id string, proto int) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "/cb", strings.NewReader(`{"id":"`+id+`"}`))
	r.Header.Set("X-Secret", "s3cret")
	r.ProtoMajor = proto
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

// uniqueID keeps tests apart in the process's one memory store.
func uniqueID(t *testing.T, id string) string { return t.Name() + "/" + id }

func TestDeliverReplay(t *testing.T) {
	for _, proto := range []int{1, 2} {
		t.Run(fmt.Sprint("HTTP/", proto), func(t *testing.T) {
			h := provisioned(t, secretGuard(nil))
			var b backend
			id := uniqueID(t, "replay")
			first := post(t, h, &b, id, proto)
			second := post(t, h, &b, id, proto)
			if first.Code != 200 || first.Body.String() != "ok" || first.Header().Get(hdrReplayed) != "" {
				t.Fatalf("first: %d %q %v", first.Code, first.Body, first.Header())
			}
			if second.Code != 200 || second.Body.String() != "ok" || second.Header().Get(hdrReplayed) != "true" {
				t.Fatalf("second: %d %q %v", second.Code, second.Body, second.Header())
			}
			if b.calls.Load() != 1 {
				t.Fatalf("the backend was called %d times", b.calls.Load())
			}
		})
	}
}

func TestDeliverWaitsForTheFirst(t *testing.T) {
	h := provisioned(t, secretGuard(nil))
	release := make(chan struct{})
	b := backend{answer: func(w http.ResponseWriter, r *http.Request, call int32) {
		<-release
		fmt.Fprint(w, "first answer")
	}}
	id := uniqueID(t, "wait")
	firstDone := make(chan *httptest.ResponseRecorder)
	go func() { firstDone <- post(t, h, &b, id, 1) }()
	for b.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	secondDone := make(chan *httptest.ResponseRecorder)
	go func() { secondDone <- post(t, h, &b, id, 1) }()
	time.Sleep(50 * time.Millisecond) // the second is waiting on the key
	close(release)
	first, second := <-firstDone, <-secondDone
	if first.Body.String() != "first answer" || second.Body.String() != "first answer" || second.Header().Get(hdrReplayed) != "true" {
		t.Fatalf("first %q, second %q replayed=%q", first.Body, second.Body, second.Header().Get(hdrReplayed))
	}
	if b.calls.Load() != 1 {
		t.Fatalf("the backend was called %d times", b.calls.Load())
	}
}

// A failed forward releases the key: the retry is forwarded as attempt 2,
// and its answer is then replayed.
func TestDeliverReleasesAfterAFailedForward(t *testing.T) {
	for _, proto := range []int{1, 2} {
		t.Run(fmt.Sprint("HTTP/", proto), func(t *testing.T) {
			h := provisioned(t, secretGuard(nil))
			b := backend{answer: func(w http.ResponseWriter, r *http.Request, call int32) {
				if call == 1 {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				fmt.Fprint(w, "fine")
			}}
			id := uniqueID(t, "release")
			if w := post(t, h, &b, id, proto); w.Code != 503 {
				t.Fatalf("first: %d", w.Code)
			}
			if w := post(t, h, &b, id, proto); w.Code != 200 || w.Header().Get(hdrReplayed) != "" {
				t.Fatalf("retry: %d replayed=%q", w.Code, w.Header().Get(hdrReplayed))
			}
			if w := post(t, h, &b, id, proto); w.Header().Get(hdrReplayed) != "true" {
				t.Fatal("third delivery not replayed")
			}
			if got := b.attemptsSeen(); got != "1,2" {
				t.Fatalf("attempts %q, want 1,2", got)
			}
		})
	}
}

// An answer over max_answer is passed on whole, not stored, and its key
// released as after a failed forward.
func TestDeliverAnswerOverMaxAnswer(t *testing.T) {
	for _, proto := range []int{1, 2} {
		t.Run(fmt.Sprint("HTTP/", proto), func(t *testing.T) {
			h := provisioned(t, secretGuard(func(g *config.Guard) { g.MaxAnswer = 1024 }))
			big := strings.Repeat("x", 3000)
			b := backend{answer: func(w http.ResponseWriter, r *http.Request, call int32) {
				w.Header().Set("Content-Type", "text/plain")
				for range 3 {
					_, _ = io.WriteString(w, big[:1000])
				}
			}}
			id := uniqueID(t, "big")
			for range 2 {
				w := post(t, h, &b, id, proto)
				if w.Code != 200 || w.Body.String() != big || w.Header().Get(hdrReplayed) != "" || w.Header().Get("Content-Type") != "text/plain" {
					t.Fatalf("%d, %d bytes, %v", w.Code, w.Body.Len(), w.Header())
				}
			}
			if got := b.attemptsSeen(); got != "1,2" {
				t.Fatalf("attempts %q, want 1,2", got)
			}
		})
	}
}

// A store that cannot be reached: open forwards every delivery, reject
// answers 503 and forwards none.
func TestDeliverStoreFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://" + l.Addr().String() + "/0"
	l.Close() // nothing listens: every store call fails
	for _, mode := range []string{config.StoreFailureOpen, config.StoreFailureReject} {
		t.Run(mode, func(t *testing.T) {
			h := provisioned(t, secretGuard(func(g *config.Guard) {
				g.Store = &config.Store{Kind: config.StoreRedis, URL: url}
				g.StoreFailure = mode
			}))
			var b backend
			for range 2 {
				w := post(t, h, &b, "store-down", 1)
				switch mode {
				case config.StoreFailureOpen:
					if w.Code != 200 || w.Header().Get(hdrReplayed) != "" {
						t.Fatalf("%d replayed=%q", w.Code, w.Header().Get(hdrReplayed))
					}
				default:
					if w.Code != 503 || w.Body.String() != `{"error":"store_unavailable"}` {
						t.Fatalf("%d %q", w.Code, w.Body)
					}
				}
			}
			want := map[string]string{config.StoreFailureOpen: "1,1", config.StoreFailureReject: ""}[mode]
			if got := b.attemptsSeen(); got != want {
				t.Fatalf("the backend saw attempts %q, want %q", got, want)
			}
		})
	}
}

// Without credentials, a declared body length buys no memory: the buffer
// grows with the bytes that came, whatever the Content-Length says.
func TestUnauthenticatedBodyIsNotPreallocated(t *testing.T) {
	h := provisioned(t, config.Guard{Preset: "generic", JWT: &config.JWT{
		From:    []config.TokenSource{{Source: config.SourceForm, Name: "token"}},
		Secrets: []string{"jwt-secret"},
	}})
	const declared = 60 << 10
	serve := func() {
		r := httptest.NewRequest("POST", "/cb", strings.NewReader("token=forged"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.ContentLength = declared
		w := httptest.NewRecorder()
		_ = h.ServeHTTP(w, r, &backend{})
		if w.Code != 401 {
			t.Fatalf("%d %q", w.Code, w.Body)
		}
	}
	serve()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 100
	for range n {
		serve()
	}
	runtime.ReadMemStats(&after)
	if perRequest := (after.TotalAlloc - before.TotalAlloc) / n; perRequest > declared/4 {
		t.Fatalf("%d bytes allocated per unauthenticated request declaring %d", perRequest, declared)
	}
}
