package dedupe

import (
	"encoding/binary"
	"maps"
	"sync"
)

// shard is one independently locked part of a Memory.
//
// Entries (stored answers and attempt counts) are records in the arena, a
// FIFO of byte chunks, found through idx: digest → location, where a
// location is the chunk's sequence number and the record's offset in it
// (see index). Neither the index nor the chunks hold pointers, so the GC
// does not scan them, and an entry costs its record plus its index slot.
//
// A record is
//
//	digest   16 bytes: confirms an index match, and lets dropping a chunk
//	         find the index entries still pointing into it
//	expires  8 bytes, little-endian, in Memory.nowNanos's unit
//	kind     uvarint payload length << 1 | 1 for an answer, 0 for attempts
//	payload  the EncodeAnswer bytes, or the attempt count as a uvarint
//
// Records are never changed once written and chunks are never reused, so a
// payload sliced out under the lock stays valid after it.
type shard struct {
	mu      sync.Mutex
	idx     index
	flights map[digest]flight
	chunks  []chunk // oldest first
	// firstSeq is the sequence number of chunks[0]; it grows by one with
	// each dropped chunk. Locations keep it modulo 2²⁴, which is unambiguous
	// while fewer than 2²⁴ chunks are alive (a shard holds tens).
	firstSeq   uint64
	arenaBytes int64 // the capacity of all chunks
	// flightsPeak is the flights map's largest size since it was made: Go
	// maps do not shrink, so an emptied one is rebuilt.
	flightsPeak int
	_           [64]byte // keeps neighbouring shards' mutexes off one cache line
}

// flight is a held claim. Few are held at once, so they may hold a pointer.
type flight struct {
	token   uint64
	expires int64 // in Memory.nowNanos's unit
	attempt int32
	done    chan struct{} // made by the first Wait, closed when the claim ends
}

// chunk is a part of a shard's arena.
type chunk struct {
	buf       []byte // records, back to back; cap is fixed when made
	maxExpiry int64  // the latest expiry of its records: past it, all are dead
}

// record is a parsed arena record.
type record struct {
	expires  int64
	answer   bool
	attempts int    // when !answer
	payload  []byte // when answer
}

const (
	digestBytes = len(digest{})
	// Chunk sizes: a shard's budget split in about 32, so that dropping one
	// evicts about 3% of the shard; at most a small-object size class (32
	// KiB, and offsets fit index's 16 bits), at least enough for a few
	// records when the budget is tiny. A record larger than a chunk gets a
	// chunk of its own, at offset 0.
	chunksPerShard = 32
	minChunkBytes  = 512
	maxChunkBytes  = 32 << 10
	// flightBytes is a held claim's cost: its map slot, and a channel once
	// somebody waits.
	flightBytes = 160
	// minFlightsPeak keeps small flights maps from being rebuilt.
	minFlightsPeak = 64
)

func (s *shard) init() {
	s.flights = make(map[digest]flight)
}

// used is the shard's share of MaxBytes in use.
func (s *shard) used() int64 {
	return s.arenaBytes + s.idx.bytes() + int64(len(s.flights))*flightBytes
}

// lookup finds d in the index: the hash, and the position of d's slot
// (found) or of the empty slot where it would go.
func (s *shard) lookup(d digest) (h uint32, pos int, found bool) {
	h = hashOf(d)
	pos, found = s.idx.find(h, func(loc uint64) bool { return s.digestAt(loc) == d })
	return h, pos, found
}

// current returns d's record, if the index has one.
func (s *shard) current(d digest) (r record, pos int, found bool) {
	_, pos, found = s.lookup(d)
	if found {
		r = s.record(slotLoc(s.idx.slots[pos]))
	}
	return r, pos, found
}

func (s *shard) chunkAt(loc uint64) *chunk {
	return &s.chunks[(loc>>offBits-s.firstSeq)&seqMask]
}

func (s *shard) digestAt(loc uint64) digest {
	off := int(loc & offMask)
	return digest(s.chunkAt(loc).buf[off : off+digestBytes])
}

// record reads the record at loc, which the index holds (so its chunk is
// there).
func (s *shard) record(loc uint64) record {
	_, r, _ := parseRecord(s.chunkAt(loc).buf, int(loc&offMask), true)
	return r
}

// parseRecord reads the record at buf[off:] and returns its digest, the
// record (when full is set; the arena walk needs only the digest) and the
// offset after it. The arena is written only by appendRecord, so a record
// that does not parse is a bug, and panics.
func parseRecord(buf []byte, off int, full bool) (digest, record, int) {
	d := digest(buf[off : off+digestBytes])
	p := off + digestBytes
	var r record
	r.expires = int64(binary.LittleEndian.Uint64(buf[p:]))
	p += 8
	kind, n := binary.Uvarint(buf[p:])
	if n <= 0 {
		panic("dedupe: corrupt arena record")
	}
	p += n
	end := p + int(kind>>1)
	if full {
		r.answer = kind&1 == 1
		if r.answer {
			r.payload = buf[p:end:end]
		} else {
			a, _ := binary.Uvarint(buf[p:end])
			r.attempts = int(a)
		}
	}
	return d, r, end
}

// putAnswer appends an answer record for d and points the index at it. It
// reports false, and stores nothing, when the record cannot fit in the
// shard's budget.
func (s *shard) putAnswer(d digest, expires int64, a *Answer, budget, now int64) bool {
	payload := encodedAnswerLen(a)
	if int64(recordSize(payload, true)) > budget-s.idx.bytes()-int64(len(s.flights))*flightBytes {
		return false
	}
	c, start, size := s.appendRecord(d, expires, payload, true, budget)
	capBefore := cap(c.buf)
	c.buf = EncodeAnswer(c.buf, a)
	s.arenaBytes += int64(cap(c.buf) - capBefore)
	if len(c.buf)-start != size {
		// Only a caller changing a.Header meanwhile gets here; a record
		// whose length lies would derail the arena walk, so drop it.
		c.buf = c.buf[:start]
		return false
	}
	s.finishRecord(d, start, budget, now)
	r, _, found := s.current(d)
	return found && r.answer && r.expires == expires
}

// recordSize is the arena size of a record with a payload of n bytes.
func recordSize(n int, answer bool) int {
	kind := uint64(n) << 1
	if answer {
		kind |= 1
	}
	return digestBytes + 8 + uvarintLen(kind) + n
}

// putAttempts appends an attempt-count record for d and points the index
// at it.
func (s *shard) putAttempts(d digest, expires int64, attempts int, budget, now int64) {
	c, start, _ := s.appendRecord(d, expires, uvarintLen(uint64(attempts)), false, budget)
	c.buf = binary.AppendUvarint(c.buf, uint64(attempts))
	s.finishRecord(d, start, budget, now)
}

// appendRecord writes a record's head into the chunk that gets it and
// returns the chunk, the record's offset and its whole size; the caller
// appends exactly payloadLen bytes, then calls finishRecord.
func (s *shard) appendRecord(d digest, expires int64, payloadLen int, answer bool, budget int64) (*chunk, int, int) {
	kind := uint64(payloadLen) << 1
	if answer {
		kind |= 1
	}
	size := recordSize(payloadLen, answer)
	c := s.tailFor(size, budget)
	start := len(c.buf)
	c.buf = append(c.buf, d[:]...)
	c.buf = binary.LittleEndian.AppendUint64(c.buf, uint64(expires))
	c.buf = binary.AppendUvarint(c.buf, kind)
	c.maxExpiry = max(c.maxExpiry, expires)
	return c, start, size
}

// finishRecord points the index at the record at start in the newest chunk,
// then evicts what no longer fits.
func (s *shard) finishRecord(d digest, start int, budget, now int64) {
	for s.idx.full() && len(s.chunks) > 1 {
		s.dropOldest()
	}
	loc := makeLoc(s.firstSeq+uint64(len(s.chunks)-1), start)
	h, pos, found := s.lookup(d)
	s.idx.setAt(pos, found, h, loc)
	s.evict(budget, now)
}

// tailFor returns the newest chunk if size more bytes fit in it, else a new
// chunk.
func (s *shard) tailFor(size int, budget int64) *chunk {
	if n := len(s.chunks); n > 0 {
		if c := &s.chunks[n-1]; cap(c.buf)-len(c.buf) >= size {
			return c
		}
	}
	capacity := max(size, min(max(int(budget/chunksPerShard), minChunkBytes), maxChunkBytes, int(budget)))
	s.chunks = append(s.chunks, chunk{buf: make([]byte, 0, capacity)})
	s.arenaBytes += int64(capacity)
	return &s.chunks[len(s.chunks)-1]
}

// evict drops the oldest chunks while the shard is over budget or the
// oldest chunk holds only expired records. The newest chunk, which holds
// the record just written, goes only if it alone is over the budget: the
// budget is a hard bound.
func (s *shard) evict(budget, now int64) {
	dropped := false
	for len(s.chunks) > 1 && (s.used() > budget || s.chunks[0].maxExpiry <= now) {
		s.dropOldest()
		dropped = true
	}
	if dropped {
		s.idx.shrink()
	}
	if len(s.chunks) == 1 && s.used() > budget {
		s.dropOldest()
		s.idx.shrink()
	}
}

// dropOldest drops chunks[0], deleting the index entries that point into it
// (a key whose entry moved on to a newer record keeps it).
func (s *shard) dropOldest() {
	c := s.chunks[0]
	for off := 0; off < len(c.buf); {
		d, _, next := parseRecord(c.buf, off, false)
		if pos, ok := s.idx.findLoc(hashOf(d), makeLoc(s.firstSeq, off)); ok {
			s.idx.deleteAt(pos)
		}
		off = next
	}
	s.chunks[0] = chunk{}
	s.chunks = s.chunks[1:]
	s.firstSeq++
	s.arenaBytes -= int64(cap(c.buf))
}

// land ends the flight f of d and wakes its waiters.
func (s *shard) land(d digest, f flight) {
	delete(s.flights, d)
	if f.done != nil {
		close(f.done)
	}
}

// abandon ends an expired claim, keeping its attempt count (see
// abandonedAttemptsTTL), or the key's longer-lived count if it has one.
func (s *shard) abandon(d digest, f flight, budget, now int64) {
	s.land(d, f)
	expires := after(f.expires, abandonedAttemptsTTL)
	if r, _, found := s.current(d); found {
		expires = max(expires, r.expires)
	}
	s.putAttempts(d, expires, int(f.attempt), budget, now)
}

// addFlight holds d for f.
func (s *shard) addFlight(d digest, f flight) {
	s.flights[d] = f
	s.flightsPeak = max(s.flightsPeak, len(s.flights))
}

// sweep ends expired claims, drops chunks whose records all expired (the
// newest too) and shrinks what emptied.
func (s *shard) sweep(budget, now int64) {
	for d, f := range s.flights {
		if now >= f.expires {
			s.abandon(d, f, budget, now)
		}
	}
	for len(s.chunks) > 0 && s.chunks[0].maxExpiry <= now {
		s.dropOldest()
	}
	s.evict(budget, now)
	s.idx.shrink()
	if s.flightsPeak >= minFlightsPeak && len(s.flights) < s.flightsPeak/4 {
		fresh := make(map[digest]flight, len(s.flights))
		maps.Copy(fresh, s.flights)
		s.flights, s.flightsPeak = fresh, len(fresh)
	}
}
