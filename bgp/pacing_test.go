package bgp

import (
	"testing"
	"time"
)

// The default pacer: at most MaxWalks started at once, each after a delay below MaxDelay;
// the rest wait in order and start as walks finish; counters say how many waited.
func TestPacerBounds(t *testing.T) {
	clk := NewFakeClock(time.Unix(0, 0))
	p := NewPacer(PacingConfig{MaxWalks: 2, MaxDelay: 100 * time.Millisecond}, clk)
	var started []int
	for i := range 5 {
		p.Schedule(func() { started = append(started, i) })
	}
	if len(started) != 0 {
		t.Fatalf("started %v before any delay passed", started)
	}
	clk.Advance(100 * time.Millisecond)
	if len(started) != 2 {
		t.Fatalf("after the delay: started %v, want 2 (MaxWalks)", started)
	}
	if st := p.Stats(); st.Running != 2 || st.Queued != 3 || st.Delayed != 3 {
		t.Fatalf("stats %+v", st)
	}
	p.Done()
	clk.Advance(100 * time.Millisecond)
	if len(started) != 3 || started[2] != 2 {
		t.Fatalf("after one done: started %v, want the oldest waiting next", started)
	}
	p.Done()
	p.Done()
	clk.Advance(100 * time.Millisecond)
	if len(started) != 5 {
		t.Fatalf("started %v, want all", started)
	}
	p.Done()
	p.Done()
	if st := p.Stats(); st.Running != 0 || st.Queued != 0 || st.Started != 5 {
		t.Fatalf("stats at the end %+v", st)
	}

	// Unbounded and without delay: at once.
	free := NewPacer(PacingConfig{MaxWalks: -1}, clk)
	n := 0
	for range 10 {
		free.Schedule(func() { n++ })
	}
	if n != 10 || free.Stats().Delayed != 0 {
		t.Fatalf("unpaced: %d started, stats %+v", n, free.Stats())
	}
}
