package dedupe

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap drives the table with random inserts, updates and
// deletes and checks it against a map after each step. Hashes are drawn
// from a few values, so that probe runs are long, wrap around the table's
// end and get shifted back by deletes.
func TestIndexAgainstMap(t *testing.T) {
	for _, hashes := range []uint32{1, 3, 50, 1 << 20} {
		var x index
		ref := map[uint64]uint32{} // loc (the key here) → hash
		rng := rand.New(rand.NewPCG(uint64(hashes), 7))
		hashFor := func() uint32 { return rng.Uint32N(hashes)*2654435761&(1<<hashBits-1) | hashTopBit }
		check := func(step int) {
			t.Helper()
			if x.count != len(ref) {
				t.Fatalf("hashes %d step %d: count %d, want %d", hashes, step, x.count, len(ref))
			}
			for loc, h := range ref {
				if pos, ok := x.findLoc(h, loc); !ok || slotLoc(x.slots[pos]) != loc {
					t.Fatalf("hashes %d step %d: loc %d not found", hashes, step, loc)
				}
			}
		}
		for step := range 4000 {
			switch op := rng.IntN(10); {
			case op < 6 || len(ref) == 0: // insert a new key
				loc := uint64(step)
				h := hashFor()
				pos, found := x.findLoc(h, loc)
				if found {
					t.Fatalf("new key %d found", loc)
				}
				x.setAt(pos, found, h, loc)
				ref[loc] = h
			default: // delete a random key
				for loc, h := range ref {
					pos, found := x.findLoc(h, loc)
					if !found {
						t.Fatalf("key %d to delete not found", loc)
					}
					x.deleteAt(pos)
					delete(ref, loc)
					break
				}
			}
			if step%97 == 0 {
				check(step)
			}
			if step%1000 == 999 {
				// Empty most of it, then shrink.
				for loc, h := range ref {
					if rng.IntN(10) > 0 {
						pos, _ := x.findLoc(h, loc)
						x.deleteAt(pos)
						delete(ref, loc)
					}
				}
				before := len(x.slots)
				x.shrink()
				if len(ref) > 0 && 8*len(ref) < before && len(x.slots) >= before {
					t.Fatalf("shrink kept %d slots for %d entries", len(x.slots), len(ref))
				}
				check(step)
			}
		}
		check(-1)
		if 5*x.count > 4*len(x.slots) {
			t.Fatalf("table over 80%% full: %d of %d", x.count, len(x.slots))
		}
	}
}

func TestIndexSlotPacking(t *testing.T) {
	var d digest
	for i := range d {
		d[i] = 0xff
	}
	h := hashOf(d)
	if h&hashTopBit == 0 || h >= 1<<hashBits {
		t.Fatalf("hash %x out of its bits", h)
	}
	loc := makeLoc(1<<seqBits+5, 32767) // the sequence number wraps
	slot := slotOf(h, loc)
	if slot == 0 || slotHash(slot) != h || slotLoc(slot) != loc || loc>>offBits != 5 || loc&offMask != 32767 {
		t.Fatalf("slot %x does not give back hash %x and loc %x", slot, h, loc)
	}
}
