// Package redisstore is the dedupe.Store on Redis, for several Caddy
// instances behind a load balancer: a provider's retry that lands on another
// instance than the first delivery still finds the claim or the answer, so
// each delivery is forwarded once.
//
// It has the semantics of dedupe.Memory, operation for operation, made
// atomic across instances by running each operation as one Lua script (one
// round trip; see scripts.go for the data layout). Every Redis call gets a
// short timeout of its own (Options.CallTimeout), so a slow or dead Redis
// turns into an error quickly, and the guard can forward or reject in time
// instead of letting the provider's deadline pass. Claim, Complete and
// Release also end with their ctx (the memory store ignores it: it never
// waits); Wait answers from the key's state first, as the memory store does.
//
// Redis errors are returned as they are, wrapped with the operation's name
// ("redisstore: claim: ..."); the caller decides whether to forward anyway
// or reject. The store needs no repair when Redis comes back: go-redis
// reconnects (NewClient's clients redial about once a second while Redis
// refuses them), the scripts are loaded again by the EVAL that follows a
// NOSCRIPT, and the subscriber resubscribes.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/callbackguard/callbackguard/caddymodule/dedupe"
)

// Defaults of Options.
const (
	DefaultPrefix       = "callbackguard:"
	DefaultCallTimeout  = 250 * time.Millisecond
	DefaultPollInterval = 50 * time.Millisecond
)

// abandonedAttemptsTTL is how long the attempt count of a claim whose holder
// vanished is kept after the claim expires: the same day as the memory
// store's (a day outlasts the retry schedules of the providers we know).
const abandonedAttemptsTTL = 24 * time.Hour

// maxTTL caps the TTLs sent to Redis. A century is "forever" for a callback,
// and it keeps the server's arithmetic (now + ttl, in ms) well inside the
// integers a Lua number holds exactly.
const maxTTL = 100 * 365 * 24 * time.Hour

// Options configures New.
type Options struct {
	// Prefix starts every Redis key and the wake-up channel, so that one
	// Redis serves other applications, or several stores, side by side.
	// Empty means DefaultPrefix.
	Prefix string
	// CallTimeout bounds each Redis call (0: DefaultCallTimeout), so that a
	// slow or unreachable Redis never holds a request past the provider's
	// deadline. It bounds a hung server only when the client honours
	// context deadlines: NewClient's clients do (ContextTimeoutEnabled);
	// a client of the caller's without it waits for its ReadTimeout.
	CallTimeout time.Duration
	// PollInterval is how often Wait looks at the key again when no
	// wake-up came (0: DefaultPollInterval). Wake-ups come over Pub/Sub;
	// the poll covers those lost while the subscriber reconnects.
	PollInterval time.Duration
}

// Store is a dedupe.Store on Redis. It is safe for concurrent use, and
// several Stores (in one process or in many) on the same Redis and Prefix
// share the keys.
//
// Layout: one hash per key, named Prefix+key, with the fields a (answer),
// t and e (claim token and expiry), n (attempt count) and w (watched); see
// scripts.go. The hash expires with the longest-lived thing it holds:
// the answer's or the released count's ttl, or, while claimed, claimTTL
// plus a day (the count of an abandoned claim). Wake-ups are published on
// the one channel Prefix+"done", the message being the hash's name.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	channel string
	timeout time.Duration
	poll    time.Duration

	waiters waiters
	// subscriptions counts the subscriber's confirmed (re)subscriptions.
	subscriptions atomic.Int64
	closing       chan struct{}
	closed        chan struct{}
	once          sync.Once
}

var _ dedupe.Store = (*Store)(nil)

// New returns a Store on client and starts its subscriber to wake-ups;
// Close stops it. The client stays the caller's: several Stores may share
// it, and Close does not close it.
func New(client redis.UniversalClient, opts Options) *Store {
	s := &Store{
		client:  client,
		prefix:  opts.Prefix,
		timeout: opts.CallTimeout,
		poll:    opts.PollInterval,
		closing: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.timeout <= 0 {
		s.timeout = DefaultCallTimeout
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
	}
	s.channel = s.prefix + "done"
	s.waiters.m = make(map[string]*waiter)
	s.waiters.resub = make(chan struct{})
	go s.subscribe()
	return s
}

// Kind implements dedupe.Store.
func (s *Store) Kind() string { return "redis" }

// Close stops the subscriber (Waits go on, by polling). It does not close
// the client. It may be called more than once.
func (s *Store) Close() {
	s.once.Do(func() { close(s.closing) })
	<-s.closed
}

// Errors of invalid arguments, as the memory store rejects them.
var (
	errBadTTL    = errors.New("redisstore: ttl must be positive")
	errNilAnswer = errors.New("redisstore: nil answer")
)

// Claim implements dedupe.Store.
func (s *Store) Claim(ctx context.Context, key string, claimTTL time.Duration) (dedupe.Claim, error) {
	if claimTTL <= 0 {
		return dedupe.Claim{}, errBadTTL
	}
	token := newToken()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := claimScript.Run(ctx, s.client, []string{s.prefix + key},
		token, millis(claimTTL), millis(claimTTL)+abandonedAttemptsTTL.Milliseconds()).Result()
	if err != nil {
		return dedupe.Claim{}, fmt.Errorf("redisstore: claim: %w", err)
	}
	switch v := v.(type) {
	case string:
		// DecodeAnswer copies what it keeps, so the reply's bytes need
		// not be copied first.
		a, err := dedupe.DecodeAnswer(unsafe.Slice(unsafe.StringData(v), len(v)))
		if err != nil {
			return dedupe.Claim{}, fmt.Errorf("redisstore: claim: %w", err)
		}
		return dedupe.Claim{State: dedupe.Answered, Answer: a}, nil
	case int64:
		if v == 0 {
			return dedupe.Claim{State: dedupe.InFlight}, nil
		}
		return dedupe.Claim{State: dedupe.Claimed, Token: token, Attempt: int(v)}, nil
	}
	return dedupe.Claim{}, fmt.Errorf("redisstore: claim: unexpected reply %T", v)
}

// Complete implements dedupe.Store.
func (s *Store) Complete(ctx context.Context, key string, token uint64, ans *dedupe.Answer, ttl time.Duration) error {
	if ttl <= 0 {
		return errBadTTL
	}
	if ans == nil {
		return errNilAnswer
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := completeScript.Run(ctx, s.client, []string{s.prefix + key},
		token, dedupe.EncodeAnswer(nil, ans), millis(ttl), s.channel).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: complete: %w", err)
	}
	if n < 0 {
		return dedupe.ErrNotHeld
	}
	return nil
}

// Release implements dedupe.Store.
func (s *Store) Release(ctx context.Context, key string, token uint64, ttl time.Duration) error {
	if ttl <= 0 {
		return errBadTTL
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := releaseScript.Run(ctx, s.client, []string{s.prefix + key},
		token, millis(ttl), s.channel).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	if n == 0 {
		return dedupe.ErrNotHeld
	}
	return nil
}

// millis is d in whole milliseconds for PEXPIRE and the claim's expiry:
// rounded up (a positive TTL never becomes 0, which Redis would take as
// "expired now") and capped at maxTTL.
func millis(d time.Duration) int64 {
	d = min(d, maxTTL)
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// newToken draws a claim token: random, so that a stale holder cannot match
// a later claim by chance, and never 0 (0 means "no claim" to callers).
func newToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}
