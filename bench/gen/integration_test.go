package gen

import (
	"context"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
)

// The integration tests run workloads against real daemons (Debian's gobgpd and BIRD 2)
// started through bench/targets on loopback, with small sizes. They fail, never skip, when
// a daemon cannot start. Each test uses its own /24 in 127.91.0.0/16 so tests never share
// an address.

// runAgainst starts t for plan (listening on 127.91.k.1, peers from 127.91.k.10), runs the
// plan and stops the daemon, checking that no goroutine of the run is left behind.
func runAgainst(t *testing.T, tg targets.Target, w string, p Params, role targets.Role, k int) *Result {
	t.Helper()
	listen := netip.AddrFrom4([4]byte{127, 91, byte(k), 1})
	p.PeerBase = netip.AddrFrom4([4]byte{127, 91, byte(k), 10}).String()
	plan, err := NewPlan(w, p, role)
	if err != nil {
		t.Fatal(err)
	}
	port, err := targets.FreePort(listen)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(listen, port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proc, err := targets.Start(ctx, tg, plan.Spec(role, addr), targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	res := plan.Run(ctx, Env{Target: addr, Role: role, Label: tg.Name() + "/" + w})
	res.Target = tg.Name()
	if !res.OK {
		// Kept for a test that fails; one that expects the failure removes it.
		proc.Keep()
		dir := proc.Dir()
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("run directory kept: %s", dir)
				return
			}
			os.RemoveAll(dir)
		})
	}
	u, err := proc.Stop(context.Background())
	if err != nil {
		t.Error(err)
	}
	res.CPUSeconds, res.PeakRSSBytes = u.CPUSeconds, u.PeakRSSBytes
	for end := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the run, %d before", n, goroutines)
	}
	t.Log(res.Summary())
	return res
}

func smallParams(w string) Params {
	p := DefaultParams(w)
	p.Speakers, p.Prefixes, p.Receivers = 3, 2000, 2
	p.Timeout, p.Settle = Duration(20*time.Second), Duration(100*time.Millisecond)
	return p
}

// TestConvergeAndChurn runs converge-then-churn (3 speakers × 2,000 prefixes with 10 %
// overlap and 20 % IPv6, 2 receivers) against gobgpd and BIRD as route servers and BIRD as
// a route reflector: both phases must end with the exact expected tables.
func TestConvergeAndChurn(t *testing.T) {
	cases := []struct {
		tg   targets.Target
		role targets.Role
	}{{targets.GoBGPD{}, targets.RouteServer}, {targets.BIRD{}, targets.RouteServer}, {targets.BIRD{}, targets.RouteReflector}}
	for i, c := range cases {
		t.Run(c.tg.Name()+"/"+c.role.String(), func(t *testing.T) {
			p := smallParams("churn")
			p.IPv6 = 0.2
			res := runAgainst(t, c.tg, "churn", p, c.role, 1+i)
			if !res.OK || res.Seconds == nil || len(res.Phases) != 2 {
				t.Fatalf("run failed: %s\n%+v", res.Error, res.Phases)
			}
			for _, ph := range res.Phases {
				if !ph.Check.OK || ph.Seconds == nil || ph.Updates == 0 {
					t.Errorf("phase %s: %+v", ph.Name, ph)
				}
			}
			if conv := res.Phases[0]; conv.Check.Expected != 3*1800+200 {
				t.Errorf("converge expected %d prefixes, want %d", conv.Check.Expected, 3*1800+200)
			}
			if churn := res.Phases[1]; churn.Receivers[0].Withdrawn == 0 || churn.Receivers[0].Announced == 0 {
				t.Errorf("churn phase received no withdrawals or announcements: %+v", churn.Receivers[0])
			}
			if len(res.Dropped) != 0 {
				t.Errorf("sessions dropped: %v", res.Dropped)
			}
		})
	}
}

// TestWrongExpectationFails proves the check can fail: with a corrupted expectation the run
// against BIRD reports failure, no time, and the differences.
func TestWrongExpectationFails(t *testing.T) {
	p := smallParams("converge")
	p.Expect = "wrong"
	p.Timeout = Duration(8 * time.Second)
	res := runAgainst(t, targets.BIRD{}, "converge", p, targets.RouteServer, 10)
	if res.OK || res.Seconds != nil {
		t.Fatalf("a wrong expectation passed: %+v", res)
	}
	if res.TimedOut || !strings.HasPrefix(res.Error, "converge: receivers stalled") {
		t.Errorf("a stalled run (the target sent everything): timed out %v, error %q", res.TimedOut, res.Error)
	}
	if res.Paths != 3*2000 {
		t.Errorf("paths = %d, want 3 speakers x 2000", res.Paths)
	}
	ph := res.Phases[0]
	if ph.Seconds != nil || ph.Check.OK || ph.Check.Missing != 1 || ph.Check.Wrong != 1 {
		t.Errorf("check %+v", ph.Check)
	}
	if !strings.Contains(strings.Join(ph.Check.Examples, "\n"), "missing 192.0.2.0/24") {
		t.Errorf("examples do not name the missing prefix: %v", ph.Check.Examples)
	}
}

// TestStormBIRD: five receivers disconnect and reconnect at once after convergence; all must
// hold the full table again and BIRD must drop no session.
func TestStormBIRD(t *testing.T) {
	p := smallParams("storm")
	p.Receivers = 5
	res := runAgainst(t, targets.BIRD{}, "storm", p, targets.RouteServer, 11)
	if !res.OK || res.Headline != "reconnect" || res.Seconds == nil {
		t.Fatalf("storm failed: %s", res.Error)
	}
	rc := res.Phases[1]
	if len(rc.Receivers) != 5 || rc.Check.Expected != 3*2000 {
		t.Errorf("reconnect phase: %+v", rc)
	}
	for _, r := range rc.Receivers {
		if r.Announced < 3*2000 {
			t.Errorf("%s got %d prefixes after reconnecting, want at least %d", r.Name, r.Announced, 3*2000)
		}
	}
	if len(res.Dropped) != 0 {
		t.Errorf("sessions dropped: %v", res.Dropped)
	}
}

// TestIXPAndLatencyGoBGPD: every member receives all the others' routes but not its own;
// the latency workload reports percentiles.
func TestIXPAndLatencyGoBGPD(t *testing.T) {
	p := smallParams("ixp")
	p.Speakers, p.Prefixes = 4, 500
	if res := runAgainst(t, targets.GoBGPD{}, "ixp", p, targets.RouteServer, 12); !res.OK {
		t.Errorf("ixp: %s", res.Error)
	}
	p = smallParams("latency")
	p.Prefixes = 2000
	res := runAgainst(t, targets.GoBGPD{}, "latency", p, targets.RouteServer, 13)
	if !res.OK || res.Latency == nil || res.Latency.Samples != 2000 || res.Latency.P99Ms < res.Latency.P50Ms {
		t.Errorf("latency: %s %+v", res.Error, res.Latency)
	}
}
