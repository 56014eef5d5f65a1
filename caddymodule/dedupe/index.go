package dedupe

import "encoding/binary"

// index maps a key's digest to the arena location of its current record:
// an open-addressing table with linear probing, 8 bytes a slot.
//
// A Go map[digest]uint64 would hold a 24-byte slot plus control bytes per
// entry, at the load a table has between its doublings; this table holds
// 8 bytes a slot, divided by its load, and no pointers.
// A slot packs
//
//	hash  24 bits from the digest, top bit always set, so a slot is never 0
//	      (0 is an empty slot); its low bits are the home position
//	seq   24 bits, the record's chunk sequence number modulo 2²⁴
//	off   16 bits, the record's offset in its chunk
//
// The hash is not the key: a slot whose hash matches is confirmed by the
// digest at the head of its record in the arena, which a Claim reads anyway.
// The hash bits above the home position keep false matches rare (1 in 2048
// probes at 8192 slots). Because the slot holds the home position, growing
// the table and deleting (backward shift, no tombstones) never read the
// arena.
type index struct {
	slots []uint64 // len is 0 or a power of two
	count int
}

const (
	hashBits      = 24
	hashTopBit    = 1 << (hashBits - 1)
	locBits       = 40 // seq and off
	seqBits       = 24
	seqMask       = 1<<seqBits - 1
	offBits       = 16
	offMask       = 1<<offBits - 1
	minIndexSlots = 16
	// maxIndexSlots keeps the home position below the hash's top bit.
	maxIndexSlots = hashTopBit
)

// hashOf is the slot hash of a digest: bits the shard number (d[0]) does
// not use.
func hashOf(d digest) uint32 {
	return binary.LittleEndian.Uint32(d[1:5])&(1<<hashBits-1) | hashTopBit
}

func makeLoc(seq uint64, off int) uint64 { return (seq&seqMask)<<offBits | uint64(off) }

func slotOf(h uint32, loc uint64) uint64 { return uint64(h)<<locBits | loc }

func slotHash(slot uint64) uint32 { return uint32(slot >> locBits) }

func slotLoc(slot uint64) uint64 { return slot & (1<<locBits - 1) }

func (x *index) mask() int { return len(x.slots) - 1 }

// find returns the position of the slot for the key whose hash is h and for
// which isKey(loc) holds, or the empty slot where it would go.
func (x *index) find(h uint32, isKey func(loc uint64) bool) (pos int, found bool) {
	if len(x.slots) == 0 {
		return -1, false
	}
	mask := x.mask()
	for i := int(h) & mask; ; i = (i + 1) & mask {
		slot := x.slots[i]
		if slot == 0 {
			return i, false
		}
		if slotHash(slot) == h && isKey(slotLoc(slot)) {
			return i, true
		}
	}
}

// findLoc returns the position of the slot holding exactly (h, loc).
func (x *index) findLoc(h uint32, loc uint64) (pos int, found bool) {
	return x.find(h, func(l uint64) bool { return l == loc })
}

// setAt stores (h, loc) at pos, a position find returned: the key's own
// slot (found) or the empty slot where it goes.
func (x *index) setAt(pos int, found bool, h uint32, loc uint64) {
	if found {
		x.slots[pos] = slotOf(h, loc)
		return
	}
	if pos < 0 || 5*(x.count+1) > 4*len(x.slots) && len(x.slots) < maxIndexSlots {
		// Over 80% full: double, then find the new empty slot.
		x.resize(max(minIndexSlots, 2*len(x.slots)))
		mask := x.mask()
		for pos = int(h) & mask; x.slots[pos] != 0; pos = (pos + 1) & mask {
		}
	}
	x.slots[pos] = slotOf(h, loc)
	x.count++
}

// full reports whether the table is at its largest size and 7/8 full: the
// shard must then evict before it adds.
func (x *index) full() bool {
	return len(x.slots) >= maxIndexSlots && 8*x.count >= 7*len(x.slots)
}

// deleteAt empties pos and shifts back the entries after it that probed
// past it, so that every entry stays reachable from its home.
func (x *index) deleteAt(pos int) {
	mask := x.mask()
	x.count--
	for {
		x.slots[pos] = 0
		next := pos
		for {
			next = (next + 1) & mask
			slot := x.slots[next]
			if slot == 0 {
				return
			}
			home := int(slotHash(slot)) & mask
			// The entry at next stays if its home lies cyclically in
			// (pos, next]: the emptied slot is not on its probe path.
			if pos <= next && pos < home && home <= next || pos > next && (pos < home || home <= next) {
				continue
			}
			x.slots[pos] = slot
			pos = next
			break
		}
	}
}

// resize rehashes into n slots (a power of two, larger than count).
func (x *index) resize(n int) {
	old := x.slots
	x.slots = make([]uint64, n)
	mask := n - 1
	for _, slot := range old {
		if slot == 0 {
			continue
		}
		i := int(slotHash(slot)) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = slot
	}
}

// shrink halves the table while it is under 1/8 full, so that a shard that
// emptied gives its memory back.
func (x *index) shrink() {
	n := len(x.slots)
	for n > minIndexSlots && 8*x.count < n {
		n /= 2
	}
	if n < len(x.slots) {
		if x.count == 0 {
			x.slots = nil
			return
		}
		x.resize(n)
	}
}

// bytes is the table's memory.
func (x *index) bytes() int64 { return int64(len(x.slots)) * 8 }
