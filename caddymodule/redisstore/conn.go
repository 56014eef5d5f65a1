package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"
)

// redialInterval is how often a store whose client could not be made yet
// tries again: at most one attempt per interval, made by the call that
// finds none under way.
const redialInterval = time.Second

// errClosed answers the calls made after Close.
var errClosed = errors.New("store closed")

// connector makes the rueidis client when it is first asked for (the
// Store's subscriber asks at once), and again after a failed attempt.
// rueidis.NewClient dials at once and fails when no server answers (a
// single server, every seed of a cluster, every sentinel), but Caddy must
// start while Redis is down and the guard must work once it is up; once
// made, the client reconnects by itself (a single server on the next
// command, a cluster or a sentinel setup by asking again where the nodes
// are).
type connector struct {
	opt    rueidis.ClientOption
	client atomic.Pointer[rueidis.Client]

	mu      sync.Mutex
	dialing chan struct{} // closed when the attempt under way ends; nil when none
	lastTry time.Time
	lastErr error
	closed  bool
}

func newConnector(opt rueidis.ClientOption, logger *zap.Logger) *connector {
	if opt.RetryDelay == nil {
		opt.RetryDelay = retryOnce
	}
	// One connection per server (rueidis opens two to four), and a writer
	// that waits up to 20 µs for more calls after each write: the calls of
	// concurrent requests then share one write and one read, which spares
	// system calls in Caddy and in Redis, for microseconds of latency.
	if opt.PipelineMultiplex == 0 {
		opt.PipelineMultiplex = -1
	}
	if opt.MaxFlushDelay == 0 {
		opt.MaxFlushDelay = 20 * time.Microsecond
	}
	if logger != nil {
		opt.DialCtxFn = loggedDial(opt.DialCtxFn, logger)
	}
	return &connector{opt: opt}
}

// get returns the client, making it when there is none: it waits for an
// attempt under way (within ctx), starts one when the last is over
// redialInterval ago, and otherwise fails at once with the last attempt's
// error, so that a call to a Redis that is down costs no wait.
func (c *connector) get(ctx context.Context) (rueidis.Client, error) {
	if p := c.client.Load(); p != nil {
		return *p, nil
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if c.dialing == nil && time.Since(c.lastTry) >= redialInterval {
		c.lastTry = time.Now()
		c.dialing = make(chan struct{})
		go c.dial(c.dialing)
	}
	dialing, err := c.dialing, c.lastErr
	c.mu.Unlock()
	if dialing != nil {
		select {
		case <-dialing:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if p := c.client.Load(); p != nil {
			return *p, nil
		}
		c.mu.Lock()
		err = c.lastErr
		c.mu.Unlock()
	}
	if err == nil {
		err = errClosed
	}
	return nil, err
}

func (c *connector) dial(done chan struct{}) {
	client, err := rueidis.NewClient(c.opt)
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(done)
	c.dialing = nil
	if err != nil {
		c.lastErr = err
		return
	}
	if c.closed {
		client.Close()
		return
	}
	c.client.Store(&client)
}

// retryOnce retries a call that failed on the connection (not on a Redis
// error) once, at once: that replaces a connection the server closed, while
// a server that refuses connections fails the call without a wait, and the
// guard forwards or rejects in time.
func retryOnce(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts > 1 {
		return -1
	}
	return 0
}

// close closes the client, and any that an attempt under way makes.
func (c *connector) close() {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if p := c.client.Load(); p != nil && !already {
		(*p).Close()
	}
}

// loggedDial wraps the client's dialer so that failed dials reach the
// caller's log (Caddy's), at DEBUG: the guard itself logs and counts each
// failed store call at WARN.
func loggedDial(next func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error), logger *zap.Logger) func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
	return func(ctx context.Context, addr string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
		var conn net.Conn
		var err error
		switch {
		case next != nil:
			conn, err = next(ctx, addr, d, cfg)
		case cfg != nil:
			conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", addr)
		default:
			conn, err = d.DialContext(ctx, "tcp", addr)
		}
		if err != nil {
			logger.Debug("redis dial failed", zap.String("addr", addr), zap.Error(err))
		}
		return conn, err
	}
}
