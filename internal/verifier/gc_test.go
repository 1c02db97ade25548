package verifier

import "testing"

// TestGCPercent: the standalone verifier's GOGC lets the heap grow by
// gcHeadroom over a small live heap, by half a large one, and never by more
// than Go's default.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{4 << 20, 100},
		{8 << 20, 100},
		{10 << 20, 80},
		{16 << 20, 50},
		{200 << 20, 50},
	} {
		if got := gcPercent(c.live); got != c.want {
			t.Errorf("live heap %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
	}
}
