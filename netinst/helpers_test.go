package netinst

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
)

// fakeClock is a Clock whose timers fire only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	return ch
}

// Advance moves the clock by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// armed returns how many timers are waiting.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// eventually polls cond every millisecond for at most 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rig is a manager over fake kernels (one per instance unless shared) and a fake clock.
type rig struct {
	t       *testing.T
	m       *Manager
	clock   *fakeClock
	reg     *prometheus.Registry
	mu      sync.Mutex
	kernels map[string]*FakeKernel
	shared  *FakeKernel
}

func newRig(t *testing.T, shared bool) *rig {
	r := &rig{t: t, clock: newFakeClock(), reg: prometheus.NewRegistry(), kernels: map[string]*FakeKernel{}}
	if shared {
		r.shared = NewFakeKernel()
	}
	m, err := NewManager(Deps{Logger: zaptest.NewLogger(t), Clock: r.clock, Registerer: r.reg, Kernel: func(c *Config) (Kernel, error) {
		if r.shared != nil {
			return r.shared, nil
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		k := r.kernels[c.Name]
		if k == nil {
			k = NewFakeKernel()
			r.kernels[c.Name] = k
		}
		return k, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}

func (r *rig) kernel(name string) *FakeKernel {
	if r.shared != nil {
		return r.shared
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kernels[name]
}

func (r *rig) apply(cfgs ...Config) {
	r.t.Helper()
	if err := r.m.Apply(cfgs); err != nil {
		r.t.Fatal(err)
	}
}

// push hands instance name a route event as the feed would.
func (r *rig) push(name, prefix, nh string) {
	r.t.Helper()
	r.m.mu.Lock()
	in := r.m.insts[name]
	r.m.mu.Unlock()
	if in == nil {
		r.t.Fatalf("no instance %q", name)
	}
	var a netip.Addr
	if nh != "" {
		a = netip.MustParseAddr(nh)
	}
	in.actor.in.push(EventKey{Prefix: netip.MustParsePrefix(prefix)}, a)
}

func (r *rig) status(name string) Status {
	for _, s := range r.m.Status() {
		if s.Name == name {
			return s
		}
	}
	r.t.Fatalf("no status for %q", name)
	return Status{}
}

// settled waits until instance name acknowledged its config and has no events waiting and
// installed n routes.
func (r *rig) settled(name string, n int) {
	r.t.Helper()
	eventually(r.t, name+" settled", func() bool {
		s := r.status(name)
		return !s.Pending && s.InboxDepth == 0 && s.RoutesInstalled == n && r.kernel(name).Len(tableOf(r, name)) == n
	})
}

func tableOf(r *rig, name string) int {
	for _, c := range r.m.Configs() {
		if c.Name == name {
			return c.Table
		}
	}
	return 0
}

func counter(t *testing.T, reg *prometheus.Registry, name, instance string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "instance" && l.GetValue() == instance {
					if m.Counter != nil {
						return m.Counter.GetValue()
					}
					if m.Gauge != nil {
						return m.Gauge.GetValue()
					}
					if m.Histogram != nil {
						return float64(m.Histogram.GetSampleCount())
					}
				}
			}
		}
	}
	return 0
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
