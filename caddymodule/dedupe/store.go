// Package dedupe keeps what callback_guard needs to forward each payment
// callback once: a claim on the delivery's key while it is forwarded, the
// backend's answer afterwards (replayed to retried deliveries), and the
// number of forwards a key has had (the X-Callback-Attempt header).
//
// Store is the interface the guard uses. Every operation maps onto one Redis
// round trip (SET NX PX to claim, a Lua compare-and-delete to release or
// complete, a value with a TTL for the answer), so that a Redis store and the
// in-memory store of this package (Memory) are interchangeable. Answers are
// kept in the compact binary form of EncodeAnswer by both.
package dedupe

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Answer is a backend answer kept for replay.
type Answer struct {
	Status int
	Header http.Header // only the headers worth replaying; the caller filters
	Body   []byte
}

// State says what a Claim found.
type State uint8

// The states of a Claim.
const (
	Claimed  State = iota + 1 // the caller now holds the key: forward, then Complete or Release
	Answered                  // Claim.Answer is the stored answer: replay it
	InFlight                  // another delivery holds the key: Wait, then Claim again
)

// String names the state (for logs and test failures).
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Answered:
		return "answered"
	case InFlight:
		return "in_flight"
	}
	return "invalid"
}

// Claim is what Store.Claim found or took.
type Claim struct {
	State   State
	Token   uint64  // identifies this claim (Claimed); random, never 0
	Attempt int     // Claimed: 1 for the first claim of the key, n+1 after n releases
	Answer  *Answer // Answered
}

// Store keeps claims, answers and attempt counts by key. Keys are opaque;
// the caller scopes them (by provider) so that one store serves every guard.
type Store interface {
	// Claim atomically takes key unless it is answered or held. claimTTL
	// bounds a claim whose holder vanished: after it the key is free again
	// (attempts kept).
	Claim(ctx context.Context, key string, claimTTL time.Duration) (Claim, error)
	// Complete stores ans under key for ttl and wakes waiters. It stores when
	// token still holds the claim, and also when the key is free, released or
	// its claim expired (a late answer is still worth keeping), but it never
	// overwrites an answer that is already stored, and never steals a claim
	// another token now holds (then it returns ErrNotHeld and stores nothing).
	Complete(ctx context.Context, key string, token uint64, ans *Answer, ttl time.Duration) error
	// Release drops the claim if token still holds it (compare-and-delete)
	// and wakes waiters; the attempt count stays for ttl, so the next Claim
	// gets Attempt+1.
	Release(ctx context.Context, key string, token uint64, ttl time.Duration) error
	// Wait blocks until key is not held any more (answered, released, or its
	// claim expired) or ctx ends (returns ctx.Err()). It returns at once when
	// the key is not held.
	Wait(ctx context.Context, key string) error
	// Kind is "memory" or "redis" (the metrics label).
	Kind() string
}

// ErrNotHeld is returned by Complete and Release when another token holds
// the key's claim, and by Release when the token's claim is gone (released,
// completed or expired).
var ErrNotHeld = errors.New("dedupe: claim not held")

// errBadTTL rejects a non-positive claimTTL or ttl: a claim or an entry that
// is expired the moment it is written is a caller's bug, not a choice.
var errBadTTL = errors.New("dedupe: ttl must be positive")

// errNilAnswer rejects Complete without an answer.
var errNilAnswer = errors.New("dedupe: nil answer")

// errBadStatus rejects an answer whose status is not a final HTTP status
// (100..999 is what the encoding keeps).
var errBadStatus = errors.New("dedupe: answer status out of range")
