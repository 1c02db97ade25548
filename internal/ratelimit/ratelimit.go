// Package ratelimit decides whether an API key may make one more call under
// its rate limits: several windows ("100 per minute", "1000 per day") that
// must all hold at once. Each window is a GCRA (generic cell rate algorithm,
// a token bucket kept as one number): a key may burst up to a window's
// requests at once, then is refilled steadily at requests per period, so it
// never gets more than requests in a burst nor more than requests per period
// on average. A window's state is its "debt": how long, in nanoseconds, until
// the window is full again (0 for a full or unknown one). The decision is pure
// arithmetic on those debts (Decide); Memory keeps them per key in this
// process and Redis in a shared server, applying the same rule atomically.
package ratelimit

import (
	"errors"
	"time"
)

// MaxWindows is how many windows a key may have (the APIKey CRD allows 4).
const MaxWindows = 4

// Window is one limit: at most Requests calls per Per.
type Window struct {
	Requests int64
	Per      time.Duration
}

// interval is the time one call costs, rounded up to a nanosecond so that a
// window never allows more than Requests at once; capacity is what a full
// window holds (Requests × interval, within Requests nanoseconds of Per).
func (w Window) interval() int64 { return (int64(w.Per) + w.Requests - 1) / w.Requests }

func (w Window) capacity() int64 { return w.interval() * w.Requests }

// Windows are a key's windows, held by value so that passing them through an
// interface does not allocate.
type Windows struct {
	N int
	W [MaxWindows]Window
}

// errWindow says what is wrong with a window Add refuses.
var errWindow = errors.New("a rate-limit window needs requests ≥ 1 and a period ≥ 1s")

// Add appends a window; it refuses a fifth one and a window whose requests
// or period is out of range (the CRD rules both out).
func (ws *Windows) Add(requests int64, per time.Duration) error {
	if requests < 1 || per < time.Second {
		return errWindow
	}
	if ws.N == MaxWindows {
		return errors.New("a key has at most 4 rate-limit windows")
	}
	ws.W[ws.N] = Window{Requests: requests, Per: per}
	ws.N++
	return nil
}

// Key names the APIKey a state belongs to: the same APIKey across rotations.
type Key struct{ Namespace, Name string }

// State is one window after a decision.
type State struct {
	Window
	// Remaining is how many more calls the window allows right now.
	Remaining int64
	// Reset is how long until the window is full again.
	Reset time.Duration
}

// Decision is the answer for one call.
type Decision struct {
	Allowed bool
	// RetryAfter is how long to wait before a call can be allowed; 0 when allowed.
	RetryAfter time.Duration
	// Decisive is the index of the window that decided: when denied the one
	// that must refill longest, else the one with the fewest calls remaining.
	Decisive int
	N        int
	Windows  [MaxWindows]State
}

// Decide applies one call to windows whose debts (nanoseconds until full, 0
// when full) are given: allowed when every window has room for the call,
// which then costs one interval in each; denied, costing nothing, when any
// lacks it. It returns the decision and the debts after it.
func Decide(ws Windows, debts [MaxWindows]int64) (Decision, [MaxWindows]int64) {
	d := Decision{Allowed: true, N: ws.N}
	for i := range ws.N {
		debts[i] = max(debts[i], 0)
	}
	after := debts
	for i := range ws.N {
		w := ws.W[i]
		next := debts[i] + w.interval()
		if next <= w.capacity() {
			after[i] = next
			continue
		}
		if wait := time.Duration(next - w.capacity()); d.Allowed || wait > d.RetryAfter {
			d.Allowed, d.RetryAfter, d.Decisive = false, wait, i
		}
	}
	if !d.Allowed {
		after = debts
	}
	for i := range ws.N {
		w := ws.W[i]
		d.Windows[i] = State{Window: w, Remaining: (w.capacity() - after[i]) / w.interval(), Reset: time.Duration(after[i])}
		if d.Allowed && d.Windows[i].Remaining < d.Windows[d.Decisive].Remaining {
			d.Decisive = i
		}
	}
	return d, after
}

// Limiter decides calls of keys under their windows. An error means the
// state could not be read or written; the decision is then the fallback's
// (see Fallback).
type Limiter interface {
	Allow(k Key, ws Windows, now time.Time) (Decision, error)
}
