// Package redisstore is the dedupe.Store on Redis, for several Caddy
// instances behind a load balancer: a provider's retry that lands on another
// instance than the first delivery still finds the claim or the answer, so
// each delivery is forwarded once.
//
// It has the semantics of dedupe.Memory, operation for operation, made
// atomic across instances by running each operation as one Lua script (one
// round trip; see scripts.go for the data layout). The client is rueidis,
// whose automatic pipelining sends the calls of concurrent requests
// together: one write and one read carry many of them, on the server as in
// Caddy. Every Redis call gets a short timeout of its own
// (Options.CallTimeout), so a slow or dead Redis turns into an error
// quickly, and the guard can forward or reject in time instead of letting
// the provider's deadline pass. Claim, Complete and Release also end with
// their ctx (the memory store ignores it: it never waits); Wait answers
// from the key's state first, as the memory store does.
//
// Redis errors are returned as they are, wrapped with the operation's name
// ("redisstore: claim: ..."); the caller decides whether to forward anyway
// or reject. The store needs no repair when Redis comes back: the client
// reconnects, the scripts are loaded again by the EVAL that follows a
// NOSCRIPT, and the subscriber resubscribes.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
	"go.uber.org/zap"

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
	// Redis serves other applications, or several stores, side by side. It
	// may not hold braces (they would change the keys' Cluster slots).
	// Empty means DefaultPrefix.
	Prefix string
	// CallTimeout bounds each Redis call (0: DefaultCallTimeout), so that a
	// slow or unreachable Redis never holds a request past the provider's
	// deadline.
	CallTimeout time.Duration
	// PollInterval is how often Wait looks at the key again when no
	// wake-up came (0: DefaultPollInterval). Wake-ups come over Pub/Sub;
	// the poll covers those lost while the subscriber reconnects.
	PollInterval time.Duration
	// Logger receives the client's failed dials, at DEBUG (nil: none).
	Logger *zap.Logger
}

// Store is a dedupe.Store on Redis. It is safe for concurrent use, and
// several Stores (in one process or in many) on the same Redis and Prefix
// share the keys. Wake-ups are published on the one channel
// Prefix+"done", the message being the name of the entry's key.
type Store struct {
	conn    *connector
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

// Open returns a Store on the Redis of rawURL (see ParseURL). It does not
// wait for Redis: the client connects in the background (the subscriber
// asks for it at once), and again while Redis is down, so a Store opened
// with Redis down works once Redis is up.
func Open(rawURL string, opts Options) (*Store, error) {
	clientOpt, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(clientOpt, opts)
}

// New returns a Store whose client is made from clientOpt (see Open) and
// starts its subscriber to wake-ups. Close stops both.
func New(clientOpt rueidis.ClientOption, opts Options) (*Store, error) {
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, errors.New("redisstore: the prefix may not hold braces")
	}
	s := &Store{
		conn:    newConnector(clientOpt, opts.Logger),
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
	return s, nil
}

// Kind implements dedupe.Store.
func (s *Store) Kind() string { return "redis" }

// Close stops the subscriber and closes the client; calls after it fail.
// It may be called more than once.
func (s *Store) Close() {
	s.stopSubscriber()
	s.conn.close()
}

// stopSubscriber ends the subscriber; Waits go on, by polling.
func (s *Store) stopSubscriber() {
	s.once.Do(func() { close(s.closing) })
	<-s.closed
}

// Errors of invalid arguments, as the memory store rejects them.
var (
	errBadTTL    = errors.New("redisstore: ttl must be positive")
	errNilAnswer = errors.New("redisstore: nil answer")
	errBadStatus = errors.New("redisstore: answer status out of range")
	errBadKey    = errors.New("redisstore: a key may not be empty nor start with '}'")
)

// keys are the names of key's entry and count (see scripts.go). A key that
// is empty or starts with '}' would make an empty hash tag, which Cluster
// ignores, and put the two in different slots.
func (s *Store) keys(key string) ([]string, error) {
	if key == "" || key[0] == '}' {
		return nil, errBadKey
	}
	entry := s.prefix + "{" + key + "}"
	return []string{entry, entry + "n"}, nil
}

// Claim implements dedupe.Store.
func (s *Store) Claim(ctx context.Context, key string, claimTTL time.Duration) (dedupe.Claim, error) {
	if claimTTL <= 0 {
		return dedupe.Claim{}, errBadTTL
	}
	keys, err := s.keys(key)
	if err != nil {
		return dedupe.Claim{}, err
	}
	token := newToken()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	msg, err := s.run(ctx, claimScript, keys, strconv.FormatUint(token, 10),
		strconv.FormatInt(millis(claimTTL), 10), strconv.FormatInt(millis(claimTTL)+abandonedAttemptsTTL.Milliseconds(), 10))
	if err != nil {
		return dedupe.Claim{}, fmt.Errorf("redisstore: claim: %w", err)
	}
	if msg.IsString() {
		v, _ := msg.ToString()
		// DecodeAnswer copies what it keeps, so the reply's bytes need
		// not be copied first; the first is the entry's "a".
		a, err := dedupe.DecodeAnswer(unsafe.Slice(unsafe.StringData(v), len(v))[1:])
		if err != nil {
			return dedupe.Claim{}, fmt.Errorf("redisstore: claim: %w", err)
		}
		return dedupe.Claim{State: dedupe.Answered, Answer: a}, nil
	}
	n, err := msg.AsInt64()
	switch {
	case err != nil:
		return dedupe.Claim{}, fmt.Errorf("redisstore: claim: unexpected reply: %w", err)
	case n == 0:
		return dedupe.Claim{State: dedupe.InFlight}, nil
	}
	return dedupe.Claim{State: dedupe.Claimed, Token: token, Attempt: int(n)}, nil
}

// Complete implements dedupe.Store.
func (s *Store) Complete(ctx context.Context, key string, token uint64, ans *dedupe.Answer, ttl time.Duration) error {
	switch {
	case ttl <= 0:
		return errBadTTL
	case ans == nil:
		return errNilAnswer
	case ans.Status < 100 || ans.Status > 999:
		return errBadStatus
	}
	keys, err := s.keys(key)
	if err != nil {
		return err
	}
	entry := dedupe.EncodeAnswer([]byte{'a'}, ans)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	msg, err := s.run(ctx, completeScript, keys, strconv.FormatUint(token, 10),
		rueidis.BinaryString(entry), strconv.FormatInt(millis(ttl), 10), s.channel)
	if err != nil {
		return fmt.Errorf("redisstore: complete: %w", err)
	}
	if n, err := msg.AsInt64(); err != nil {
		return fmt.Errorf("redisstore: complete: unexpected reply: %w", err)
	} else if n < 0 {
		return dedupe.ErrNotHeld
	}
	return nil
}

// Release implements dedupe.Store.
func (s *Store) Release(ctx context.Context, key string, token uint64, ttl time.Duration) error {
	if ttl <= 0 {
		return errBadTTL
	}
	keys, err := s.keys(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	msg, err := s.run(ctx, releaseScript, keys, strconv.FormatUint(token, 10),
		strconv.FormatInt(millis(ttl), 10), s.channel)
	if err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	if n, err := msg.AsInt64(); err != nil {
		return fmt.Errorf("redisstore: release: unexpected reply: %w", err)
	} else if n == 0 {
		return dedupe.ErrNotHeld
	}
	return nil
}

// run runs script on keys with args and returns its reply.
func (s *Store) run(ctx context.Context, script *rueidis.Lua, keys []string, args ...string) (rueidis.RedisMessage, error) {
	client, err := s.conn.get(ctx)
	if err != nil {
		return rueidis.RedisMessage{}, err
	}
	return script.Exec(ctx, client, keys, args).ToMessage()
}

// millis is d in whole milliseconds for PX and PEXPIRE: rounded up (a
// positive TTL never becomes 0, which Redis would refuse) and capped at
// maxTTL.
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
