package caddymodule

import (
	"net/http"
	"strconv"

	"github.com/callbackguard/callbackguard/caddymodule/deadline"
	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
)

// hdrReplayed marks an answer that came from the store.
const hdrReplayed = "X-Callback-Replayed"

// notReplayed are the headers of an answer that belong to one exchange,
// not to the answer: they are not stored.
var notReplayed = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Date": true, "Content-Length": true,
	"Alt-Svc": true, "Server": true,
	// A cookie belongs to the browser it was set for (PayGlocal's callback
	// is a buyer's browser): a replay must not hand it to whoever re-posts.
	"Set-Cookie": true,
}

func answerOf(rec *deadline.Recorder) *dedupe.Answer {
	a := &dedupe.Answer{Status: rec.Status(), Body: rec.Body()}
	for k, v := range rec.Header() {
		if notReplayed[k] {
			continue
		}
		if a.Header == nil {
			a.Header = make(http.Header, len(rec.Header()))
		}
		a.Header[k] = v
	}
	return a
}

func writeReplay(w http.ResponseWriter, a *dedupe.Answer) {
	h := w.Header()
	for k, v := range a.Header {
		h[k] = v
	}
	h[hdrReplayed] = []string{"true"}
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Status)
	if len(a.Body) > 0 {
		_, _ = w.Write(a.Body)
	}
}
