package netinst

import (
	"fmt"
	"testing"
	"time"
)

// TestIsolation: one instance's kernel calls take 2 s each (a stuck netlink socket); the
// other instances install as fast as they did before the delay, measured in the same run,
// and feeding the slow one never blocks.
func TestIsolation(t *testing.T) {
	r := newRig(t, false)
	names := []string{"slow", "fast1", "fast2"}
	var cfgs []Config
	for i, n := range names {
		cfgs = append(cfgs, inst(n, 10+i))
	}
	r.apply(cfgs...)
	for _, n := range names {
		r.settled(n, 0)
	}
	const routes = 5000
	// round pushes routes more prefixes (second octet base) to every instance and returns
	// how long the pushes took and when the fast instances had installed them all.
	round := func(base int, total int) (pushed, installed time.Duration) {
		start := time.Now()
		for i := 0; i < routes; i++ {
			p := fmt.Sprintf("10.%d.%d.0/24", base+i>>8, i&255)
			for _, n := range names {
				r.push(n, p, "192.0.2.1")
			}
		}
		pushed = time.Since(start)
		eventually(t, "fast instances installed", func() bool {
			for _, n := range names[1:] {
				if r.kernel(n).Len(tableOf(r, n)) != total {
					return false
				}
			}
			return true
		})
		return pushed, time.Since(start)
	}
	pushBase, base := round(0, routes)
	r.settled("slow", routes)
	r.kernel("slow").SetDelay(2 * time.Second)
	pushSlow, fast := round(100, 2*routes)
	slowInstalled := r.kernel("slow").Len(10)
	t.Logf("%d routes to each of 3 instances. All at normal speed: pushed in %v, installed after %v. "+
		"With one instance at 2 s per kernel call: pushed in %v, the 2 others installed after %v while the slow one had %d of %d",
		routes, pushBase.Round(time.Millisecond), base.Round(time.Millisecond), pushSlow.Round(time.Millisecond),
		fast.Round(time.Millisecond), slowInstalled, 2*routes)
	if slowInstalled == 2*routes || fast > 3*base+200*time.Millisecond || fast >= 2*time.Second {
		t.Fatalf("the slow instance held the others back: %v against %v", fast, base)
	}
	r.kernel("slow").SetDelay(0)
	r.settled("slow", 2*routes)
}
