package netinst

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Deps are what a Manager is built from.
type Deps struct {
	Logger *zap.Logger
	// Clock drives reconcile timers and lag measurement; nil: SystemClock.
	Clock Clock
	// Kernel returns the kernel an instance's actor works on. It is called when an instance
	// is added; instances in one network namespace may share one Kernel.
	Kernel func(c *Config) (Kernel, error)
	// Registerer takes the manager's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Unreachable, when set, hears (in the actor's goroutine; it must not block) of a route
	// the kernel refused because its next hop is unreachable.
	Unreachable func(instance string, p netip.Prefix, nh netip.Addr)
	// NextHop, when set, is told (in the actor's goroutine) that the instance's kernel found
	// next hop nh unreachable (reachable false: a route via nh was refused with ENETUNREACH
	// or EHOSTUNREACH) or reachable again (a probe, or a route via nh installed, says so; or
	// the instance goes away and stops speaking for nh). The daemon marks the paths via nh
	// in the instance's RIB tables. It may wait briefly (queue space) but must return.
	NextHop func(instance string, nh netip.Addr, reachable bool)
}

// Manager keeps the desired config of every network instance and runs one actor per
// instance. Every config change of an instance bumps its TargetVersion; the instance is
// pending until its actor's status carries the version it was sent.
//
// Owner: the daemon, which calls Apply from its config path (start-up and reload) and Close
// at shutdown. Cardinality: one per daemon. Lifetime: from NewManager until Close, which
// waits for every actor goroutine. mu guards insts, retiring and closed.
type Manager struct {
	log       *zap.Logger
	clock     Clock
	newKernel func(c *Config) (Kernel, error)
	unreach   func(string, netip.Prefix, netip.Addr)
	nextHop   func(string, netip.Addr, bool)
	met       *metrics
	feed      *Feed // nil until AttachFeed

	mu       sync.Mutex
	insts    map[string]*instance
	lastSent map[string]uint64 // the last version sent to each retired name
	retiring []*actor          // actors told to stop, not yet waited for
	closed   bool
}

// instance is the manager's record of one instance.
type instance struct {
	cfg    Config
	sent   uint64
	actor  *actor
	status Status
}

// NewManager returns a manager with no instances.
func NewManager(d Deps) (*Manager, error) {
	m := &Manager{log: d.Logger, clock: d.Clock, newKernel: d.Kernel, unreach: d.Unreachable, nextHop: d.NextHop, insts: map[string]*instance{}, lastSent: map[string]uint64{}}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.clock == nil {
		m.clock = SystemClock{}
	}
	met, err := newMetrics(d.Registerer, m.Status)
	if err != nil {
		return nil, fmt.Errorf("netinst metrics: %w", err)
	}
	m.met = met
	return m, nil
}

// Apply makes cfgs the desired set of instances: new ones get an actor, changed ones a new
// version (a new namespace: a new actor), missing ones are torn down. It never waits for an actor. A config that does not
// validate changes nothing.
func (m *Manager) Apply(cfgs []Config) error {
	var errs []error
	names := map[string]bool{}
	for i := range cfgs {
		if err := cfgs[i].Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[cfgs[i].Name] {
			errs = append(errs, fmt.Errorf("instance %q: configured twice", cfgs[i].Name))
		}
		names[cfgs[i].Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("netinst: manager closed")
	}
	added := false
	for name, in := range m.insts {
		if !names[name] {
			m.retireLocked(name, in)
		}
	}
	for i := range cfgs {
		c := cfgs[i]
		in := m.insts[c.Name]
		if in != nil && in.cfg.Netns != c.Netns {
			// Another namespace is another kernel: a new actor, after the old one cleaned up.
			m.retireLocked(c.Name, in)
			in = nil
		}
		if in != nil {
			if equalConfig(&in.cfg, &c) {
				continue
			}
			in.cfg = c
			in.sent++
			send(in.actor.cfgCh, versioned{cfg: c, version: in.sent})
			continue
		}
		k, err := m.newKernel(&c)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %q: kernel: %w", c.Name, err))
			continue
		}
		a := newActor(c.Name, k, m.clock, m.log.With(zap.String("instance", c.Name)), m.met.instance(c.Name))
		a.unreach = m.unreach
		a.nextHop = m.nextHop
		name := c.Name
		a.publish = func(s Status) { m.setStatus(name, a, s) }
		sent := uint64(1)
		if prev, ok := m.lastSent[c.Name]; ok {
			sent = prev + 1 // versions of a name never go back, even across a restart
		}
		in = &instance{cfg: c, sent: sent, actor: a, status: Status{Name: c.Name}}
		m.insts[c.Name] = in
		send(a.cfgCh, versioned{cfg: c, version: sent})
		// A new actor waits for an old one of the same name to finish tearing down.
		var after []*actor
		for _, r := range m.retiring {
			if r.name == c.Name {
				after = append(after, r)
			}
		}
		go func() {
			for _, r := range after {
				<-r.exited
			}
			a.run()
		}()
		added = true
	}
	if m.feed != nil {
		m.feed.setTargets(m.targetsLocked(), added)
	}
	return errors.Join(errs...)
}

// send replaces whatever config is waiting in ch with v. Only the manager (under its mutex)
// sends on an actor's cfgCh, so after the drain the buffer has room.
func send(ch chan versioned, v versioned) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

func (m *Manager) retireLocked(name string, in *instance) {
	close(in.actor.done)
	m.lastSent[name] = in.sent
	m.retiring = append(m.retiring, in.actor)
	delete(m.insts, name)
	m.met.forget(name)
	// Drop the retired actors that have finished.
	m.retiring = slices.DeleteFunc(m.retiring, func(a *actor) bool {
		select {
		case <-a.exited:
			return true
		default:
			return false
		}
	})
}

// setStatus records a's status, unless a has been replaced or retired.
func (m *Manager) setStatus(name string, a *actor, s Status) {
	m.mu.Lock()
	if in := m.insts[name]; in != nil && in.actor == a {
		in.status = s
	}
	m.mu.Unlock()
}

// Status returns every instance's status, sorted by name, with Sent and Pending filled in
// and the inbox depth read now.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	out := make([]Status, 0, len(m.insts))
	for _, in := range m.insts {
		s := in.status
		s.Name = in.cfg.Name
		s.Sent = in.sent
		s.Pending = s.TargetVersion < in.sent
		s.InboxDepth = in.actor.in.depth()
		out = append(out, s)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Configs returns the desired configs, sorted by name.
func (m *Manager) Configs() []Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Config, 0, len(m.insts))
	for _, in := range m.insts {
		out = append(out, in.cfg)
	}
	slices.SortFunc(out, func(a, b Config) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close stops every actor (each removes its routes and set-up) and waits for them within
// ctx. The metrics are unregistered.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for name, in := range m.insts {
		m.retireLocked(name, in)
	}
	wait := slices.Clone(m.retiring)
	m.mu.Unlock()
	if m.feed != nil {
		m.feed.setTargets(nil, false)
	}
	defer m.met.unregister()
	for _, a := range wait {
		select {
		case <-a.exited:
		case <-ctx.Done():
			return fmt.Errorf("netinst: instance %q did not stop: %w", a.name, ctx.Err())
		}
	}
	return nil
}
