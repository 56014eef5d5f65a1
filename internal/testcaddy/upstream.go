package testcaddy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Received is one request as the upstream got it.
type Received struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       []byte
	// ContentLength is what the request declared (-1: chunked).
	ContentLength int64
}

// Upstream is a recording backend: it keeps every request and answers
// with Respond (default: 200 "ok").
type Upstream struct {
	*httptest.Server
	mu       sync.Mutex
	received []Received
	// Respond writes the answer; it may block to play a slow backend.
	Respond func(w http.ResponseWriter, r *http.Request, body []byte)
}

// NewUpstream starts a recording backend until the test ends.
func NewUpstream(t testing.TB) *Upstream {
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for k, v := range r.Trailer { // trailers arrive after the body
			r.Header[k] = append(r.Header[k], v...)
		}
		u.mu.Lock()
		u.received = append(u.received, Received{
			Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(),
			Body: body, ContentLength: r.ContentLength,
		})
		respond := u.Respond
		u.mu.Unlock()
		if respond != nil {
			respond(w, r, body)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Server.Close)
	return u
}

// Received returns a copy of what the upstream got so far.
func (u *Upstream) Received() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.received...)
}

// Count is how many requests reached the upstream.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.received)
}

// Reset forgets what was received.
func (u *Upstream) Reset() {
	u.mu.Lock()
	u.received = nil
	u.mu.Unlock()
}

// Addr is host:port of the upstream, for reverse_proxy.
func (u *Upstream) Addr() string { return u.Listener.Addr().String() }
