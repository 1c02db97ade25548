package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
	"unsafe"

	"github.com/tenantward/tenantward/internal/hashtable"
)

// shards spreads the keys over this many locks.
const shards = 64

// Memory keeps the windows' state of each key in this process. Allow takes
// one shard's lock and one lookup in a pointer-free table, does not allocate
// once the key's shard has room, and costs the same whatever the number of
// keys. A key whose windows are all full again holds nothing that a missing
// entry would not say, so Sweep drops it: the memory is bounded by the keys
// used within their longest period.
//
// A key is known by a 64-bit hash of its namespace and name, seeded at
// random per process, and nothing else is kept of it: the states hold no
// pointer, so the garbage collector has nothing to scan in them at any
// number of keys (a map of Key to state made it mark every key's strings at
// every cycle). Two keys whose hashes are equal would share their state; with
// a secret seed that takes about 2^32 keys, and nobody outside the process
// can tell whether two names collide.
type Memory struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu sync.Mutex
	// byHash finds a key's state in states (references are indexes).
	byHash hashtable.Table
	states []memState
	// free are the indexes of the states Sweep dropped, for reuse.
	free []uint32
}

// memState is a key's windows and, for each, when it is full again (unix
// nanoseconds; the GCRA's "theoretical arrival time"). It takes two cache
// lines, and a key with one window is decided on the first alone: the
// fields are in the order Allow reads them, padded to 128 bytes so that a
// state never straddles more lines than it must (the states' array is
// allocated at a multiple of 64 bytes, as every size class from 64 up is).
type memState struct {
	// hash is the key's (Memory.hash); 0 marks a free state.
	hash uint64
	full [MaxWindows]int64
	ws   Windows
	_    [16]byte
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory { return &Memory{seed: maphash.MakeSeed()} }

// hash returns k's hash, never 0 (the mark of a free state).
func (m *Memory) hash(k Key) uint64 { return max(maphash.Comparable(m.seed, k), 1) }

// find returns the state of the key of hash h, or nil. s.mu is held.
func (s *shard) find(h uint64) *memState {
	pos := s.byHash.Find(uint32(h>>32), func(i uint32) bool { return s.states[i].hash == h })
	if pos < 0 {
		return nil
	}
	return &s.states[s.byHash.Ref(pos)]
}

// add returns a new state for the key of hash h. s.mu is held.
func (s *shard) add(h uint64) *memState {
	var i uint32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		i = uint32(len(s.states)) //nolint:gosec // fewer states than keys used at once
		s.states = append(s.states, memState{})
	}
	s.byHash.Insert(uint32(h>>32), i)
	st := &s.states[i]
	*st = memState{hash: h}
	return st
}

// Allow decides one call of k under ws at now. A window whose requests or
// period changed starts full. It never fails, and allocates only when the
// shard of a key it holds no state of must grow.
func (m *Memory) Allow(k Key, ws Windows, now time.Time) (Decision, error) {
	t := now.UnixNano()
	h := m.hash(k)
	s := &m.shards[h%shards]
	s.mu.Lock()
	st := s.find(h)
	var debts [MaxWindows]int64
	if st != nil {
		for i := range ws.N {
			for j := range st.ws.N {
				if st.ws.W[j] == ws.W[i] {
					debts[i] = st.full[j] - t
				}
			}
		}
	}
	d, after := Decide(ws, debts)
	if d.Allowed {
		if st == nil {
			st = s.add(h)
		}
		st.ws = ws
		for i := range ws.N {
			st.full[i] = t + after[i]
		}
	}
	s.mu.Unlock()
	return d, nil
}

// Sweep drops the keys whose windows are all full at now and returns how
// many keys it still holds. The room of the dropped ones is reused by the
// next keys, so the states take the room of the most keys held at once.
func (m *Memory) Sweep(now time.Time) int {
	t := now.UnixNano()
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for j := range s.states {
			st := &s.states[j]
			if st.hash == 0 || !st.fullBy(t) {
				continue
			}
			ref := uint32(j) //nolint:gosec // fewer states than keys used at once
			s.byHash.Remove(s.byHash.Find(uint32(st.hash>>32), func(other uint32) bool { return other == ref }))
			st.hash = 0
			s.free = append(s.free, ref)
		}
		n += s.byHash.Len()
		s.mu.Unlock()
	}
	return n
}

func (st *memState) fullBy(t int64) bool {
	for i := range st.ws.N {
		if st.full[i] > t {
			return false
		}
	}
	return true
}

// The padding above keeps a state at 128 bytes.
var _ [128 - unsafe.Sizeof(memState{})]struct{}
var _ [unsafe.Sizeof(memState{}) - 128]struct{}
