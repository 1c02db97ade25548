package hashtable_test

import (
	"math/rand/v2"
	"testing"

	"github.com/tenantward/tenantward/internal/hashtable"
)

// TestTableAgainstAMap inserts, replaces and removes references in random
// order, with few distinct hashes so that probe runs collide, wrap around
// the end of the slots and are shifted back by removals, and checks after
// every step that each reference is found exactly where a map says it is.
func TestTableAgainstAMap(t *testing.T) {
	for _, hashes := range []uint32{1, 7, 64, 1 << 20} {
		rng := rand.New(rand.NewPCG(uint64(hashes), 1))
		var tb hashtable.Table
		want := map[uint32]uint32{} // ref -> hash
		hashOf := func(ref uint32) uint32 { return ref * 2654435761 % hashes }
		find := func(ref uint32) int {
			return tb.Find(hashOf(ref), func(other uint32) bool { return other == ref })
		}
		for step := range 20000 {
			ref := rng.Uint32N(2000)
			_, in := want[ref]
			switch pos := find(ref); {
			case in != (pos >= 0):
				t.Fatalf("hashes %d, step %d: ref %d in the map %v, found at %d", hashes, step, ref, in, pos)
			case in && rng.IntN(2) == 0:
				tb.Remove(pos)
				delete(want, ref)
			case in:
				tb.Set(pos, ref) // replacing an entry by itself keeps it
			default:
				tb.Insert(hashOf(ref), ref)
				want[ref] = hashOf(ref)
			}
			if tb.Len() != len(want) {
				t.Fatalf("hashes %d, step %d: %d entries, want %d", hashes, step, tb.Len(), len(want))
			}
		}
		for ref := range want {
			if pos := find(ref); pos < 0 || tb.Ref(pos) != ref {
				t.Fatalf("hashes %d: ref %d lost", hashes, ref)
			}
		}
		for ref := range uint32(2000) {
			if _, in := want[ref]; !in && find(ref) >= 0 {
				t.Fatalf("hashes %d: ref %d found after its removal", hashes, ref)
			}
		}
	}
}

// TestReserve: a reserved table is not grown by filling it, and an empty
// table finds nothing.
func TestReserve(t *testing.T) {
	var tb hashtable.Table
	if tb.Find(0, func(uint32) bool { return true }) != -1 {
		t.Fatal("an empty table found an entry")
	}
	tb.Reserve(1000)
	next := uint32(0)
	allocs := testing.AllocsPerRun(1, func() { // called twice: a warm-up and the run
		for range 500 {
			tb.Insert(next, next)
			next++
		}
	})
	if allocs != 0 || tb.Len() != 1000 {
		t.Fatalf("%v allocations filling a reserved table; %d entries", allocs, tb.Len())
	}
}
