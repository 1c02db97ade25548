package verifier

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The standalone verifier's garbage collector. Go collects when the heap has
// grown by GOGC (100) percent of what the last collection found live: twice
// the live heap. The verifier's live heap is mostly the index, which is
// pointer-free and so cheap to mark; what it allocates per request is short
// garbage. So it collects after a fixed amount of new allocation instead,
// gcHeadroom, or half the live heap once that is larger: the heap stays near
// what is live (about 20 MiB at 100,000 keys) instead of doubling under load.
// The price is more frequent collections, at most twice GOGC's once the live
// heap is over 2 x gcHeadroom; what they mark is mostly the per-key state of
// keys in use (usage records, rate-limit state), not the pointer-free index.
const (
	gcHeadroom = 8 << 20
	// minGCPercent bounds the collections of a large live heap.
	minGCPercent = 50
	// gcEvery is how often the live heap is read.
	gcEvery = time.Second
)

// gcPercent is the GOGC that lets a heap of live bytes grow by the headroom.
func gcPercent(live uint64) int {
	if live == 0 {
		return 100
	}
	return int(min(100, max(minGCPercent, gcHeadroom*100/live))) //nolint:gosec // at most 100
}

// tuneGC sets GOGC from the live heap after each collection until ctx ends.
// A user's GOGC or GOMEMLIMIT in the environment decides instead: then it
// does nothing.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	var cycles uint64
	percent := 100
	t := time.NewTicker(gcEvery)
	defer t.Stop()
	for {
		metrics.Read(samples)
		if c := samples[1].Value.Uint64(); c != cycles {
			cycles = c
			if p := gcPercent(samples[0].Value.Uint64()); p != percent {
				percent = p
				debug.SetGCPercent(p)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
