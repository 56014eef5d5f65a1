package deadline

import (
	"bytes"
	"net/http"
	"sync"
)

// Recorder buffers the answer of the next handler, so that it can be
// written to the client if it comes in time, stored for replay, or both.
// It is what the next handler writes to: never the client's writer.
type Recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
	gate        Gate
}

var recorders = sync.Pool{New: func() any { return &Recorder{header: make(http.Header, 8)} }}

// NewRecorder returns an empty Recorder from a pool; Release returns it.
func NewRecorder() *Recorder { return recorders.Get().(*Recorder) }

// Release empties the recorder and puts it back in the pool. Nothing of it
// may be used afterwards.
func (r *Recorder) Release() {
	if r.body.Cap() > 64<<10 {
		return // let big buffers go rather than pin them
	}
	if r.gate.armed {
		r.gate.mu.Lock()
		reusable := r.gate.reusable
		r.gate.armed, r.gate.w, r.gate.answer, r.gate.onFire = false, nil, nil, nil
		r.gate.mu.Unlock()
		if !reusable {
			return // its timer may still fire: leave it to the collector
		}
	}
	clear(r.header)
	r.status, r.wroteHeader = 0, false
	r.body.Reset()
	recorders.Put(r)
}

// Header is the header map of the buffered answer.
func (r *Recorder) Header() http.Header { return r.header }

// WriteHeader records the status. 1xx informational answers are not the
// answer and are dropped (the provider gets the final one).
func (r *Recorder) WriteHeader(code int) {
	if r.wroteHeader || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		return
	}
	r.status, r.wroteHeader = code, true
}

// Write buffers body bytes.
func (r *Recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(p)
}

// Flush is a no-op: the answer is sent whole, once known. It exists so that
// reverse_proxy's flushes find a Flusher.
func (r *Recorder) Flush() {}

// Status is the recorded status, 0 when nothing was written.
func (r *Recorder) Status() int { return r.status }

// Body is the buffered body; valid until Release.
func (r *Recorder) Body() []byte { return r.body.Bytes() }

// Wrote reports whether the next handler wrote an answer.
func (r *Recorder) Wrote() bool { return r.wroteHeader }

// WriteTo sends the buffered answer to the client.
func (r *Recorder) WriteTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range r.header {
		h[k] = v
	}
	w.WriteHeader(r.status)
	if r.body.Len() > 0 {
		_, _ = w.Write(r.body.Bytes())
	}
}
