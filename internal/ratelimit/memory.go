package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"
)

// shards spreads the keys over this many locks.
const shards = 64

// Memory keeps the windows' state of each key in this process. Allow takes
// one shard's lock and one map lookup, does not allocate once the key is
// known, and costs the same whatever the number of keys. A key whose windows are all full again
// holds nothing that a missing entry would not say, so Sweep drops it: the
// memory is bounded by the keys used within their longest period.
type Memory struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[Key]*memState
}

// memState is a key's windows and, for each, when it is full again (unix
// nanoseconds; the GCRA's "theoretical arrival time").
type memState struct {
	ws   Windows
	full [MaxWindows]int64
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = map[Key]*memState{}
	}
	return m
}

func (m *Memory) shard(k Key) *shard {
	return &m.shards[maphash.Comparable(m.seed, k)%shards]
}

// Allow decides one call of k under ws at now. A window whose requests or
// period changed starts full. It never fails, and allocates only for a key
// it holds no state of.
func (m *Memory) Allow(k Key, ws Windows, now time.Time) (Decision, error) {
	t := now.UnixNano()
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[k]
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
			st = &memState{}
			s.m[k] = st
		}
		st.ws = ws
		for i := range ws.N {
			st.full[i] = t + after[i]
		}
	}
	return d, nil
}

// Sweep drops the keys whose windows are all full at now and returns how
// many keys it still holds.
func (m *Memory) Sweep(now time.Time) int {
	t := now.UnixNano()
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, st := range s.m {
			if st.fullBy(t) {
				delete(s.m, k)
			}
		}
		n += len(s.m)
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
