package bgp

import (
	"testing"
	"time"
)

// RFC 4271 §10: jitter is a random factor between 0.75 and 1.
func TestRFCJitterBounds(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 2000 {
		d := rfcJitter(120 * time.Second)
		if d < 90*time.Second || d > 120*time.Second {
			t.Fatalf("jittered 120s to %v, outside [90s, 120s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 2000 draws: not random", len(seen))
	}
}

// The shell jitters only connect-retry and idle-hold; hold and keepalive stay exact.
func TestTimerShellJittersRetryOnly(t *testing.T) {
	clk := NewFakeClock(time.Unix(0, 0))
	var got []time.Duration
	s := timerShell{clock: clk, jitter: func(d time.Duration) time.Duration { got = append(got, d); return d / 2 }, fire: func(Timer, uint64) {}}
	s.arm(TimerConnectRetry, 10*time.Second)
	s.arm(TimerIdleHold, 4*time.Second)
	s.arm(TimerHold, 90*time.Second)
	s.arm(TimerKeepalive, 30*time.Second)
	if len(got) != 2 || got[0] != 10*time.Second || got[1] != 4*time.Second {
		t.Fatalf("jitter applied to %v, want connect-retry and idle-hold only", got)
	}
	if s.dur[TimerConnectRetry] != 5*time.Second || s.dur[TimerHold] != 90*time.Second {
		t.Fatalf("armed %v / %v", s.dur[TimerConnectRetry], s.dur[TimerHold])
	}
	s.stopAll()
}
