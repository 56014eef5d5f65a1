package dedupe

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// DefaultMaxBytes is the capacity of a Memory store when MaxBytes is 0: a
// million answers of about 150 bytes fit, with room to spare.
const DefaultMaxBytes = 256 << 20

// abandonedAttemptsTTL is how long the attempt count of a claim whose holder
// vanished (the claim expired without Complete or Release) is kept after the
// claim's expiry. Claim gets no ttl for the count; a day outlasts the retry
// schedules of the providers we know. A Redis store should do the same:
// keep the attempt key for claimTTL + abandonedAttemptsTTL when it claims.
const abandonedAttemptsTTL = 24 * time.Hour

// sweepInterval is how often the background sweep reclaims what lazy expiry
// leaves behind in shards that see no writes (see Memory).
const sweepInterval = 30 * time.Second

// numShards is the number of independently locked parts of a Memory. A key
// goes to the shard named by the first byte of its digest.
const numShards = 256

// MemoryOptions configures NewMemory.
type MemoryOptions struct {
	// MaxBytes bounds the memory kept for answers and entries (the arena
	// chunks, the index tables and the held claims, as allocated); past it
	// the oldest entries are evicted. 0 means DefaultMaxBytes. The bound is
	// hard: each of the 256 shards gets an equal share and never holds
	// more, so an answer larger than a share (1 MiB by default) is not
	// stored at all (Complete returns ErrTooLarge).
	MaxBytes int64
	// Now is the clock (nil: time.Now). Tests pass a fake one.
	Now func() time.Time
}

// Memory is the in-process Store. One Memory serves every guard of a Caddy
// process and survives config reloads, so it is built for heavy concurrent
// use: 256 shards, each with its own mutex, and no lock across shards on any
// request path.
//
// Layout, chosen so that an answer costs little more than its own bytes
// and nothing the garbage collector has to scan (see shard and index):
//
//   - A key is reduced to digest, the first 16 bytes of its SHA-256. Keys
//     come only from verified requests, so nobody picks them to collide (and
//     a chosen collision would still cost about 2⁶⁴ SHA-256 evaluations);
//     by the birthday bound, n keys kept at once collide with probability
//     below n²/2¹²⁹, 1.5·10⁻²⁷ for a million. A collision would make two
//     keys share one entry: one delivery would get the other's answer.
//   - Each shard maps digest → location with an open-addressing table of
//     8-byte slots (index), which the GC never scans. The location points
//     at a record in the shard's arena: a FIFO of byte chunks. A record
//     holds the digest, the expiry and either the answer (in EncodeAnswer's
//     form) or the attempt count. Records are immutable: a change appends a
//     new record and moves the index entry; the old record is garbage until
//     its chunk goes.
//   - Held claims are few at a time, so they live in a small per-shard map
//     with a channel for waiters.
//
// Eviction and expiry: past MaxBytes/256 a shard drops its oldest chunk
// (the newest too, if it alone is over the share),
// deleting the entries whose current record is in it, so the oldest entries
// go first. An entry is treated as gone once its expiry passes (lazily, when
// its key is used); its bytes come back when its chunk is dropped, which
// happens as soon as every record in the oldest chunk has expired (checked on
// each write, and by a sweep every 30 s for shards without writes, which also
// ends abandoned claims and shrinks maps that emptied).
//
// The memory store never blocks on anything but its shard mutexes, so only
// Wait looks at its ctx.
type Memory struct {
	shards   [numShards]shard
	maxBytes atomic.Int64
	now      func() time.Time
	epoch    time.Time // nowNanos counts from here

	closeOnce sync.Once
	stop      chan struct{}
	swept     chan struct{}
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory and starts its sweep; Close stops it.
func NewMemory(opts MemoryOptions) *Memory {
	m := &Memory{now: opts.Now, stop: make(chan struct{}), swept: make(chan struct{})}
	if m.now == nil {
		m.now = time.Now
	}
	m.epoch = m.now()
	m.maxBytes.Store(capacityOrDefault(opts.MaxBytes))
	for i := range m.shards {
		m.shards[i].init()
	}
	go m.sweepLoop()
	return m
}

func capacityOrDefault(n int64) int64 {
	if n <= 0 {
		return DefaultMaxBytes
	}
	return n
}

// SetMaxBytes changes the capacity (0: DefaultMaxBytes) and evicts at once
// what no longer fits.
func (m *Memory) SetMaxBytes(n int64) {
	m.maxBytes.Store(capacityOrDefault(n))
	budget, now := m.shardBudget(), m.nowNanos()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.evict(budget, now)
		s.mu.Unlock()
	}
}

// Len is the number of entries kept: stored answers and attempt counts,
// including expired ones not reclaimed yet. Held claims are not counted.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.idx.count
		s.mu.Unlock()
	}
	return n
}

// Close stops the background sweep. The store still works afterwards (lazy
// expiry and eviction go on); Close may be called more than once.
func (m *Memory) Close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.swept
	})
}

// Kind implements Store.
func (m *Memory) Kind() string { return "memory" }

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string, claimTTL time.Duration) (Claim, error) {
	if claimTTL <= 0 {
		return Claim{}, errBadTTL
	}
	d := digestOf(key)
	s := m.shardOf(d)
	now := m.nowNanos()
	s.mu.Lock()
	if f, ok := s.flights[d]; ok {
		if now < f.expires {
			s.mu.Unlock()
			return Claim{State: InFlight}, nil
		}
		s.abandon(d, f, m.shardBudget(), now)
	}
	attempts := 0
	if r, pos, found := s.current(d); found {
		switch {
		case r.expires <= now:
			s.idx.deleteAt(pos)
		case r.answer:
			// Records are immutable and chunks are never reused, so the
			// payload can be decoded outside the lock.
			s.mu.Unlock()
			a, err := DecodeAnswer(r.payload)
			if err != nil {
				return Claim{}, err
			}
			return Claim{State: Answered, Answer: a}, nil
		default:
			attempts = r.attempts
		}
	}
	f := flight{token: newToken(), expires: after(now, claimTTL), attempt: int32(attempts + 1)}
	s.addFlight(d, f)
	s.mu.Unlock()
	return Claim{State: Claimed, Token: f.token, Attempt: int(f.attempt)}, nil
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, key string, token uint64, ans *Answer, ttl time.Duration) error {
	if ttl <= 0 {
		return errBadTTL
	}
	if ans == nil {
		return errNilAnswer
	}
	if ans.Status < 100 || ans.Status > 999 {
		// DecodeAnswer would refuse it: every replay of the key would fail.
		return errBadStatus
	}
	d := digestOf(key)
	s := m.shardOf(d)
	now := m.nowNanos()
	s.mu.Lock()
	defer s.mu.Unlock()
	var attempt int32
	if f, ok := s.flights[d]; ok {
		if f.token != token && now < f.expires {
			return ErrNotHeld
		}
		// Ours, or expired: the answer settles the key either way.
		s.land(d, f)
		attempt = f.attempt
	} else if r, _, found := s.current(d); found && r.answer && now < r.expires {
		return nil // an answer is never overwritten
	}
	budget := m.shardBudget()
	if !s.putAnswer(d, after(now, ttl), ans, budget, now) {
		// Too large for the share: the key is released instead, keeping
		// its attempt count, so that the retry is forwarded again.
		if attempt > 0 {
			s.putAttempts(d, after(now, ttl), int(attempt), budget, now)
		}
		return ErrTooLarge
	}
	return nil
}

// ErrTooLarge is what Memory.Complete returns for an answer that does not
// fit in the store's share for its key: nothing is stored, and the key is
// released as after a failed forward.
var ErrTooLarge = errors.New("dedupe: answer larger than the memory store's share")

// Release implements Store.
func (m *Memory) Release(_ context.Context, key string, token uint64, ttl time.Duration) error {
	if ttl <= 0 {
		return errBadTTL
	}
	d := digestOf(key)
	s := m.shardOf(d)
	now := m.nowNanos()
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.flights[d]
	switch {
	case !ok:
		return ErrNotHeld
	case now >= f.expires:
		s.abandon(d, f, m.shardBudget(), now)
		return ErrNotHeld
	case f.token != token:
		return ErrNotHeld
	}
	s.land(d, f)
	s.putAttempts(d, after(now, ttl), int(f.attempt), m.shardBudget(), now)
	return nil
}

// Wait implements Store.
func (m *Memory) Wait(ctx context.Context, key string) error {
	d := digestOf(key)
	s := m.shardOf(d)
	now := m.nowNanos()
	s.mu.Lock()
	f, ok := s.flights[d]
	if !ok {
		s.mu.Unlock()
		return nil
	}
	if now >= f.expires {
		s.abandon(d, f, m.shardBudget(), now)
		s.mu.Unlock()
		return nil
	}
	if f.done == nil {
		f.done = make(chan struct{})
		s.flights[d] = f
	}
	s.mu.Unlock()

	// The holder may vanish: the claim's expiry ends the wait too.
	expiry := time.NewTimer(time.Duration(f.expires - now))
	defer expiry.Stop()
	select {
	case <-f.done:
		return nil
	case <-expiry.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// digest identifies a key in a Memory (see Memory for the collision bound).
type digest [16]byte

func digestOf(key string) digest {
	// A read-only view of the key's bytes: []byte(key) would be copied to
	// the heap (the hash's input escapes), one allocation per call.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
	return digest(sum[:16])
}

func (m *Memory) shardOf(d digest) *shard { return &m.shards[d[0]] }

// shardBudget is each shard's share of MaxBytes.
func (m *Memory) shardBudget() int64 { return m.maxBytes.Load() / numShards }

// nowNanos is the time in nanoseconds since the store was made, by the
// monotonic clock when the clock has one (time.Now does), so that a step of
// the wall clock neither expires entries early nor keeps them for longer.
// Expiries are kept in the same unit.
func (m *Memory) nowNanos() int64 { return int64(m.now().Sub(m.epoch)) }

// after is the expiry d after now, saturating instead of overflowing.
func after(now int64, d time.Duration) int64 {
	if now > 0 && int64(d) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(d)
}

// newToken draws a claim token: random (so that a stale holder cannot match
// a later claim by chance) and never 0 (0 means "no claim" to callers).
func newToken() uint64 {
	for {
		if t := rand.Uint64(); t != 0 {
			return t
		}
	}
}

func (m *Memory) sweepLoop() {
	defer close(m.swept)
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.sweep()
		}
	}
}

// sweep does, for every shard, what lazy expiry does only for shards that
// are used: it ends expired claims (keeping their attempt counts), drops
// chunks whose records have all expired, and shrinks maps that emptied.
func (m *Memory) sweep() {
	budget, now := m.shardBudget(), m.nowNanos()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		s.sweep(budget, now)
		s.mu.Unlock()
	}
}
