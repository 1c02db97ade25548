// Package hashtable is an open-addressing hash table (linear probing) from a
// 32-bit hash to a uint32 reference, with no pointers in it: the garbage
// collector never scans it, whatever its size. The caller decides what a
// reference means (an index into its own pointer-free records) and how two
// entries of the same hash are told apart (Find's match). Deletion shifts the
// entries after the removed one back, so there are no tombstones. The
// verifier's key index (internal/verifier/index.go) and the in-memory rate
// limiter (internal/ratelimit/memory.go) keep their records this way.
package hashtable

// Table is the hash table; its zero value is empty and ready to use. It is
// not safe for concurrent use.
type Table struct {
	slots []slot
	n     int
}

// slot is one entry; ref 0 is empty, so a reference r is stored as r+1.
type slot struct{ hash, ref uint32 }

// Len returns the number of entries.
func (t *Table) Len() int { return t.n }

// Find returns the position of the entry of hash whose reference match
// accepts, or -1.
func (t *Table) Find(hash uint32, match func(ref uint32) bool) int {
	if len(t.slots) == 0 {
		return -1
	}
	mask := uint32(len(t.slots) - 1) //nolint:gosec // a table of uint32 references never reaches 2^32 slots
	for i := hash & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s.ref == 0 {
			return -1
		}
		if s.hash == hash && match(s.ref-1) {
			return int(i)
		}
	}
}

// Ref returns the reference at position i (from Find).
func (t *Table) Ref(i int) uint32 { return t.slots[i].ref - 1 }

// Set stores ref at position i (from Find), replacing the entry there.
func (t *Table) Set(i int, ref uint32) { t.slots[i].ref = ref + 1 }

// Insert adds an entry; the caller has checked that no entry of the same
// identity is there (or wants both).
func (t *Table) Insert(hash, ref uint32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	t.place(slot{hash, ref + 1})
	t.n++
}

func (t *Table) place(s slot) {
	mask := uint32(len(t.slots) - 1) //nolint:gosec // a table of uint32 references never reaches 2^32 slots
	i := s.hash & mask
	for t.slots[i].ref != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = s
}

// Reserve sizes an empty table for n entries, so that filling it does not
// grow it.
func (t *Table) Reserve(n int) {
	size := 16
	for n*4 > size*3 {
		size *= 2
	}
	if t.n == 0 && size > len(t.slots) {
		t.slots = make([]slot, size)
	}
}

func (t *Table) grow() {
	old := t.slots
	t.slots = make([]slot, max(16, 2*len(old)))
	for _, s := range old {
		if s.ref != 0 {
			t.place(s)
		}
	}
}

// Remove deletes the entry at position i (from Find), moving back the
// entries of its probe run that would otherwise no longer be found.
func (t *Table) Remove(i int) {
	mask := len(t.slots) - 1
	t.slots[i] = slot{}
	t.n--
	for j := (i + 1) & mask; t.slots[j].ref != 0; j = (j + 1) & mask {
		home := int(t.slots[j].hash) & mask
		// The entry at j stays when its home is cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		t.slots[i], t.slots[j] = t.slots[j], slot{}
		i = j
	}
}
