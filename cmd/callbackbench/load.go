package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The upstream's answer, and the probe headers that make it report what
// the guard forwarded.
var (
	upstreamBody = []byte(`{"ok":true}`)
	jsonType     = []string{"application/json"}
)

const (
	probeHeader    = "X-Bench-Probe"
	verifiedHeader = "X-Bench-Verified"
)

// startUpstream serves the fast backend on a loopback port: 200 with a
// small JSON body, keep-alive.
func startUpstream() (*http.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			h := w.Header()
			if r.Header[probeHeader] != nil {
				h.Set(verifiedHeader, r.Header.Get("X-Callback-Verified"))
			}
			h["Content-Type"] = jsonType
			_, _ = w.Write(upstreamBody)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Minute,
	}
	go func() { _ = srv.Serve(l) }()
	return srv, l.Addr().String(), nil
}

// newClient is one load connection: its own Transport holding one
// keep-alive HTTP/1.1 connection.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1,
		MaxIdleConnsPerHost:   1,
		MaxConnsPerHost:       1,
		IdleConnTimeout:       10 * time.Minute,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
	}}
}

// send makes one request of it and reads the whole answer.
func send(c *http.Client, it *item, probe bool) (*http.Response, []byte, error) {
	h := http.Header{"Content-Type": jsonType}
	if it.hdr != "" {
		h[it.hdr] = []string{it.auth}
	}
	if probe {
		h[probeHeader] = []string{"1"}
	}
	req := &http.Request{
		Method: http.MethodPost, URL: it.url, Host: it.url.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(it.body)), ContentLength: int64(len(it.body)),
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	var body []byte
	if probe {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	return resp, body, err
}

// windowResult is what one scenario did in one window.
type windowResult struct {
	requests int64         // answered 200
	errors   int64         // other answers and transport errors
	firstErr string        // the first of them
	elapsed  time.Duration // from the start to the last answer
	cpu      time.Duration // Caddy's CPU time in the window
	extraCPU time.Duration // the store's (redis-server) CPU time in the window
	self     time.Duration // this process's (load generator and upstream) CPU time in the window
	others   time.Duration // every other process's CPU time in the window
	late     int64         // requests prepared during the window (the estimate was short)
	hist     *histogram
}

func (w *windowResult) rate() float64 { return float64(w.requests) / w.elapsed.Seconds() }
func (w *windowResult) cpuPerReq() time.Duration {
	if w.requests == 0 {
		return 0
	}
	return w.cpu / time.Duration(w.requests)
}

// window loads s with every connection in a closed loop for d. The
// requests are prepared before it starts; Caddy's CPU is read right
// before the first request and after the last answer.
func (b *bench) window(s *scenario, d time.Duration, warm bool) (*windowResult, error) {
	conns := b.clients[s.name]
	items, err := b.prepareWindow(s, len(conns), d, warm)
	if err != nil {
		return nil, err
	}
	runtime.GC() // the preparation's garbage is not the window's

	results := make([]connResult, len(conns))
	l := &connLoop{b: b, s: s, begin: make(chan struct{})}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(c, items[i], &results[i])
		}()
	}
	cpu0, err := processCPU(b.caddy.PID())
	if err != nil {
		return nil, err
	}
	extra0, self0, busy0 := b.extraCPU(s), selfCPU(), machineBusy()
	stats0 := b.redisCommandStats(s, warm)
	started := time.Now()
	close(l.begin)
	timer := time.AfterFunc(d, func() { l.stop.Store(true) })
	wg.Wait()
	elapsed := time.Since(started)
	timer.Stop()
	cpu1, err := processCPU(b.caddy.PID())
	if err != nil {
		return nil, err
	}
	w := &windowResult{elapsed: elapsed, cpu: cpu1 - cpu0, extraCPU: b.extraCPU(s) - extra0, self: selfCPU() - self0, hist: new(histogram)}
	w.others = machineBusy() - busy0 - w.cpu - w.self
	if b.redis != nil && b.redis.local != nil {
		w.others -= w.extraCPU // the user's Redis runs elsewhere
	}
	if stats0 != nil {
		if stats1 := b.redisCommandStats(s, warm); stats1 != nil {
			b.redisStats.add(stats0, stats1)
		}
	}
	b.collect(s, w, results, items, warm)
	s.bestRate = max(s.bestRate, w.rate())
	return w, nil
}

// prepareWindow prepares the requests of each of conns connections for a
// window of d: enough for the best rate seen times a margin, so that the
// window rarely has to prepare more while it is timed.
func (b *bench) prepareWindow(s *scenario, conns int, d time.Duration, warm bool) ([][]item, error) {
	rate := s.bestRate
	if rate == 0 {
		rate = initialRateGuess
	}
	margin := rateMargin
	if s.name == "jwt_rs256" {
		margin = jwtRateMargin // each token costs ~1 ms to sign; unsent ones are kept for later
	}
	perConn := int(math.Ceil(rate*margin*d.Seconds()/float64(conns))) + 16
	items := make([][]item, conns)
	for i := range items {
		var err error
		if items[i], err = b.prepare(s, perConn, warm); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// connResult is what one connection did in a window.
type connResult struct {
	n, errs, late int64
	firstErr      string
	unsent        []item
	hist          histogram
}

// connLoop is what the connections of one window share: the start and
// stop signals, and the lock over late preparation.
type connLoop struct {
	b      *bench
	s      *scenario
	begin  chan struct{}
	stop   atomic.Bool
	prepMu sync.Mutex // late preparation draws from the scenario's sequence
}

// run sends the requests mine over c from the start signal to the stop
// signal, preparing more if they run out, and records into r.
func (l *connLoop) run(c *http.Client, mine []item, r *connResult) {
	<-l.begin
	k := 0
	defer func() { r.unsent = mine[min(k, len(mine)):] }()
	for ; !l.stop.Load(); k++ {
		if k >= len(mine) {
			l.prepMu.Lock()
			more, err := l.b.prepare(l.s, 64, true) // tokens of the warm-up: no signing in the window
			l.prepMu.Unlock()
			if err != nil {
				r.errs++
				r.firstErr = err.Error()
				return
			}
			r.late += int64(len(more))
			mine, k = more, 0
		}
		start := time.Now()
		resp, _, err := send(c, &mine[k], false)
		r.record(resp, err, time.Since(start))
	}
}

// record counts one answer (or transport error) and its latency.
func (r *connResult) record(resp *http.Response, err error, lat time.Duration) {
	switch {
	case err != nil:
		r.errs++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
	case resp.StatusCode != http.StatusOK:
		r.errs++
		if r.firstErr == "" {
			r.firstErr = resp.Status
		}
	default:
		r.n++
		r.hist.add(lat)
	}
}

// collect adds the connections' results to w, and, for a counted window of
// fresh RS256 tokens, gives the ones not sent back to the pool.
func (b *bench) collect(s *scenario, w *windowResult, results []connResult, items [][]item, warm bool) {
	for i := range results {
		r := &results[i]
		w.requests += r.n
		w.errors += r.errs
		w.late += r.late
		if w.firstErr == "" {
			w.firstErr = r.firstErr
		}
		w.hist.merge(&r.hist)
		if s.name == "jwt_rs256" && !warm && b.o.jwtTokens == 0 {
			// The fresh tokens not sent go back to the pool; after a late
			// preparation (warm-up tokens) every fresh one was sent.
			var back []string
			if r.late == 0 {
				for _, it := range r.unsent {
					back = append(back, it.auth)
				}
			}
			b.tokens.giveBack(back)
			b.tokens.sent += len(items[i]) - len(back)
		}
	}
}

// initialRateGuess sizes the first window's prepared requests; later
// windows use the best rate seen. A window prepares for rateMargin times
// that rate (jwtRateMargin for RS256 tokens): the machine may be less busy
// than before.
const (
	initialRateGuess = 25000
	rateMargin       = 3.0
	jwtRateMargin    = 2.0
)

func selfCPU() time.Duration {
	t, _ := processCPU(os.Getpid())
	return t
}

// extraCPU is the CPU used so far by the store process of s, if any.
func (b *bench) extraCPU(s *scenario) time.Duration {
	if s.name != "redis" || b.redis == nil {
		return 0
	}
	t, _ := b.redis.cpu()
	return t
}

// redisCommandStats are redis-server's command statistics before or after
// a counted window of the redis scenario (nil for any other window).
func (b *bench) redisCommandStats(s *scenario, warm bool) commandStats {
	if s.name != "redis" || b.redis == nil || warm {
		return nil
	}
	st, _ := b.redis.commandStats()
	return st
}

// probe checks a scenario before it is timed: a delivery passes and
// reaches the upstream with the guard's X-Callback-Verified, and, on a
// guarded route, one without its credential gets 401.
func (b *bench) probe(s *scenario) error {
	c := b.clients[s.name][0]
	its, err := b.prepare(s, 1, true)
	if err != nil {
		return err
	}
	resp, body, err := send(c, &its[0], true)
	if err != nil {
		return fmt.Errorf("%s: %v", s.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: a valid delivery got %s: %s\n%s", s.name, resp.Status, body, tail(b.caddy.Log()))
	}
	verified := resp.Header.Get(verifiedHeader)
	if s.guarded() && verified == "" || !s.guarded() && s.name != "headers" && verified != "" {
		return fmt.Errorf("%s: the upstream saw X-Callback-Verified %q", s.name, verified)
	}
	if !s.guarded() {
		return nil
	}
	bare := its[0]
	bare.hdr = ""
	u := *its[0].url
	u.RawQuery = "lang=de-DE"
	bare.url = &u
	resp, body, err = send(c, &bare, true)
	if err != nil {
		return fmt.Errorf("%s: %v", s.name, err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("%s: a delivery without its credential got %s: %s", s.name, resp.Status, body)
	}
	return nil
}
