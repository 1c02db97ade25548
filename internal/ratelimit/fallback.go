package ratelimit

import (
	"fmt"
	"time"
)

// FailMode is what a shared limiter does when its store cannot decide.
type FailMode string

// Fail modes.
const (
	// FailLocal decides with this process's own in-memory state: the limit
	// still holds per replica (at most replicas × the limit in all).
	FailLocal FailMode = "local"
	// FailOpen allows the call: no limit while the store is down.
	FailOpen FailMode = "open"
	// FailClosed denies the call (RetryAfter one second): an outage of the
	// store stops every rate-limited key.
	FailClosed FailMode = "closed"
)

// ParseFailMode reads local, open or closed.
func ParseFailMode(s string) (FailMode, error) {
	switch m := FailMode(s); m {
	case FailLocal, FailOpen, FailClosed:
		return m, nil
	}
	return "", fmt.Errorf("the rate-limit fail mode %q is not local, open or closed", s)
}

// Fallback decides with Primary and, when that fails, as Mode says (Local
// holds the state of FailLocal). It returns Primary's error beside the
// fallback's decision, for the caller to count and log.
type Fallback struct {
	Primary Limiter
	Mode    FailMode
	Local   *Memory
}

// Allow decides one call.
func (f *Fallback) Allow(k Key, ws Windows, now time.Time) (Decision, error) {
	d, err := f.Primary.Allow(k, ws, now)
	if err == nil {
		return d, nil
	}
	switch f.Mode {
	case FailOpen:
		d, _ = Decide(ws, [MaxWindows]int64{})
	case FailClosed:
		d = Decision{RetryAfter: time.Second, N: ws.N}
		for i := range ws.N {
			d.Windows[i] = State{Window: ws.W[i], Reset: time.Second}
		}
	default:
		d, _ = f.Local.Allow(k, ws, now)
	}
	return d, err
}
