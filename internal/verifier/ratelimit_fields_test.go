package verifier

import (
	"testing"
	"time"
)

// TestPolicyNamesAreTheDurations: the RateLimit fields name each window as
// time.Duration prints its period, formatted without allocating.
func TestPolicyNamesAreTheDurations(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 59 * time.Second, time.Minute, 61 * time.Second, time.Hour, 3601 * time.Second, 24 * time.Hour, 720 * time.Hour, 1500 * time.Millisecond, 90 * time.Minute} {
		if got, want := string(appendPolicyName(nil, d)), `"`+d.String()+`"`; got != want {
			t.Errorf("%v: %s != %s", d, got, want)
		}
	}
}
