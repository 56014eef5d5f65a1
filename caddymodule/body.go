package caddymodule

import (
	"bytes"
	"io"
	"net/http"
)

// preallocMax is the largest declared body read into a buffer allocated
// up front; callbacks are small, a few KiB.
const preallocMax = 64 << 10

// readBody reads the whole body once, up to max_body. A non-zero status
// (413, 400) is the answer when it cannot. Only an authenticated request's
// declared length is trusted with a buffer allocated up front: an
// unauthenticated one could declare max_body and send slowly, so its
// buffer grows as bytes arrive.
func (g *Handler) readBody(r *http.Request, authenticated bool) ([]byte, int) {
	limit := g.settings.MaxBody
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, 0
	}
	if authenticated && r.ContentLength > 0 && r.ContentLength <= preallocMax {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return nil, http.StatusBadRequest
		}
		return buf, 0
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		return nil, http.StatusBadRequest
	case int64(len(b)) > limit:
		return nil, http.StatusRequestEntityTooLarge
	case len(b) == 0:
		return nil, 0
	}
	return b, 0
}

// closeUnread closes an HTTP/1 connection after an answer given before the
// body was read: Go's server would otherwise read the rest of the body
// before it sends the answer, so a client that declared a body and sends
// it slowly would hold the connection, and its answer, as long as it likes.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// bodyReader hands the body, read once, to the next handler: one
// allocation where bytes.NewReader and io.NopCloser make two.
type bodyReader struct{ bytes.Reader }

func newBodyReader(b []byte) *bodyReader {
	br := new(bodyReader)
	br.Reset(b)
	return br
}

// Close is a no-op: the bytes stay valid for whoever still reads them.
func (*bodyReader) Close() error { return nil }
