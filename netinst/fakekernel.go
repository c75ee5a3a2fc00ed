package netinst

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FakeKernel is a Kernel that records kernel state in memory and prints it as text, for
// unit tests here and in the daemon. It can be slowed down (Delay) and made to fail
// (FailRoute, FailList) to test what actors do then.
//
// The mutex guards every field; FakeKernel is safe for concurrent use (several actors may
// share one, as they share a namespace).
type FakeKernel struct {
	mu       sync.Mutex
	routes   map[Route]struct{}
	byDst    map[tableDst]Route // the route of each (table, destination)
	links    map[string]string  // name -> description
	rules    map[string]struct{}
	delay    time.Duration
	failGw   map[string]error // gateway (text) -> error of ReplaceRoutes for routes via it
	failList []error          // the next ListRoutes calls fail with these, in order
	onList   func()           // runs inside ListRoutes after the dump is taken
	watchers []*fakeWatch
	calls    int
}

// NewFakeKernel returns an empty fake kernel.
func NewFakeKernel() *FakeKernel {
	return &FakeKernel{routes: map[Route]struct{}{}, byDst: map[tableDst]Route{}, links: map[string]string{}, rules: map[string]struct{}{}, failGw: map[string]error{}}
}

// SetDelay makes every kernel call take d longer (a stuck netlink socket).
func (k *FakeKernel) SetDelay(d time.Duration) {
	k.mu.Lock()
	k.delay = d
	k.mu.Unlock()
}

// FailRoute makes installing routes via gateway gw fail with err (nil: stop failing).
func (k *FakeKernel) FailRoute(gw string, err error) {
	k.mu.Lock()
	if err == nil {
		delete(k.failGw, gw)
	} else {
		k.failGw[gw] = err
	}
	k.mu.Unlock()
}

// FailList makes the next len(errs) dumps fail with errs, in order.
func (k *FakeKernel) FailList(errs ...error) {
	k.mu.Lock()
	k.failList = append(k.failList, errs...)
	k.mu.Unlock()
}

// OnList sets a function that runs inside each dump after the routes were read (nil: none):
// it stands for whatever happens while a real dump is in flight.
func (k *FakeKernel) OnList(f func()) {
	k.mu.Lock()
	k.onList = f
	k.mu.Unlock()
}

// Remove deletes r as another process would (ip route del); it reports whether r was there.
// Watchers of r's table hear of it.
func (k *FakeKernel) Remove(r Route) bool {
	k.mu.Lock()
	_, ok := k.routes[r]
	k.deleteLocked(r)
	var tell []*fakeWatch
	for _, w := range k.watchers {
		if w.table == r.Table && ok {
			tell = append(tell, w)
		}
	}
	k.mu.Unlock()
	for _, w := range tell {
		w.events <- r
	}
	return ok
}

// RemoveUnseen deletes r without telling watchers: a deletion whose notification was lost.
func (k *FakeKernel) RemoveUnseen(r Route) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.routes[r]
	k.deleteLocked(r)
	return ok
}

// fakeWatch is one WatchRoutes subscription: its goroutine forwards events (and a zero
// Route, meaning "lost") to the callbacks until done.
type fakeWatch struct {
	table  int
	events chan Route
}

// WatchRoutes implements RouteWatcher. Only Remove and LoseNotifications produce events, as
// only another process's deletions matter.
func (k *FakeKernel) WatchRoutes(table int, done <-chan struct{}, gone func(Route), lost func()) (<-chan struct{}, error) {
	w := &fakeWatch{table: table, events: make(chan Route, 64)}
	k.mu.Lock()
	k.watchers = append(k.watchers, w)
	k.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				k.mu.Lock()
				k.watchers = slices.DeleteFunc(k.watchers, func(x *fakeWatch) bool { return x == w })
				k.mu.Unlock()
				return
			case r := <-w.events:
				if r == (Route{}) {
					lost()
				} else {
					gone(r)
				}
			}
		}
	}()
	return stopped, nil
}

// LoseNotifications tells table's watchers that notifications were lost (ENOBUFS).
func (k *FakeKernel) LoseNotifications(table int) {
	k.mu.Lock()
	var tell []*fakeWatch
	for _, w := range k.watchers {
		if w.table == table {
			tell = append(tell, w)
		}
	}
	k.mu.Unlock()
	for _, w := range tell {
		w.events <- Route{}
	}
}

// tableDst is where a kernel route sits: one route per table and destination (fanout
// installs every route with the same metric and TOS).
type tableDst struct {
	table int
	dst   netip.Prefix
}

func (k *FakeKernel) deleteLocked(r Route) {
	if _, ok := k.routes[r]; ok {
		delete(k.routes, r)
		delete(k.byDst, tableDst{r.Table, r.Dst})
	}
}

func (k *FakeKernel) insertLocked(r Route) {
	if old, ok := k.byDst[tableDst{r.Table, r.Dst}]; ok {
		delete(k.routes, old)
	}
	k.routes[r] = struct{}{}
	k.byDst[tableDst{r.Table, r.Dst}] = r
}

// Insert adds r as another process (or an earlier run) would, replacing the route to the
// same destination in the same table.
func (k *FakeKernel) Insert(r Route) {
	k.mu.Lock()
	k.insertLocked(r)
	k.mu.Unlock()
}

// Calls returns how many kernel calls were made.
func (k *FakeKernel) Calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

// Len returns the number of routes in table.
func (k *FakeKernel) Len(table int) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for r := range k.routes {
		if r.Table == table {
			n++
		}
	}
	return n
}

// Dump prints the fake's state, one sorted line per link, rule and route.
func (k *FakeKernel) Dump() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var lines []string
	for name, d := range k.links {
		lines = append(lines, fmt.Sprintf("link %s %s", name, d))
	}
	for r := range k.rules {
		lines = append(lines, "rule "+r)
	}
	for r := range k.routes {
		lines = append(lines, "route "+r.String())
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// enter counts a call and sleeps its delay; the delay is taken without the lock so one slow
// caller does not hold up the test reading the state.
func (k *FakeKernel) enter() {
	k.mu.Lock()
	k.calls++
	d := k.delay
	k.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

// ReplaceRoutes implements Kernel: a route replaces the table's route to the same destination.
func (k *FakeKernel) ReplaceRoutes(rs []Route) []RouteError {
	k.enter()
	k.mu.Lock()
	defer k.mu.Unlock()
	var failed []RouteError
	for _, r := range rs {
		if err := k.failGw[r.Gw.String()]; err != nil {
			failed = append(failed, RouteError{Route: r, Err: err})
			continue
		}
		k.insertLocked(r)
	}
	return failed
}

// DeleteRoutes implements Kernel.
func (k *FakeKernel) DeleteRoutes(rs []Route) []RouteError {
	k.enter()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range rs {
		k.deleteLocked(r)
	}
	return nil
}

// ListRoutes implements Kernel.
func (k *FakeKernel) ListRoutes(table int) ([]Route, error) {
	k.enter()
	k.mu.Lock()
	if len(k.failList) > 0 {
		err := k.failList[0]
		k.failList = k.failList[1:]
		k.mu.Unlock()
		return nil, err
	}
	var out []Route
	for r := range k.routes {
		if r.Table == table {
			out = append(out, r)
		}
	}
	f := k.onList
	k.mu.Unlock()
	if f != nil {
		f()
	}
	return out, nil
}

// Setup implements Kernel.
func (k *FakeKernel) Setup(s Setup) (Created, error) {
	k.enter()
	k.mu.Lock()
	defer k.mu.Unlock()
	var c Created
	if s.Bridge != "" {
		if _, ok := k.links[s.Bridge]; !ok {
			k.links[s.Bridge] = "bridge" + addrText(s.Addrs)
			c.Bridge = true
		}
	}
	for _, p := range s.Ports {
		if p.Peer != "" {
			if _, ok := k.links[p.Name]; !ok {
				c.Veths = append(c.Veths, p.Name)
			}
			k.links[p.Peer] = "veth peer " + p.Name
		} else if _, ok := k.links[p.Name]; !ok {
			return c, fmt.Errorf("port %s: %w", p.Name, errNoLink)
		}
		d := "port"
		if s.Bridge != "" {
			d += " master " + s.Bridge
		}
		k.links[p.Name] = d + addrText(p.Addrs)
	}
	if s.Bridge != "" && s.RulePriority > 0 {
		for _, fam := range []int{4, 6} {
			k.rules[fmt.Sprintf("%d pref %d iif %s lookup %d", fam, s.RulePriority, s.Bridge, s.Table)] = struct{}{}
			c.Rules = append(c.Rules, fam)
		}
	}
	return c, nil
}

// Teardown implements Kernel.
func (k *FakeKernel) Teardown(s Setup, c Created) error {
	k.enter()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, fam := range c.Rules {
		delete(k.rules, fmt.Sprintf("%d pref %d iif %s lookup %d", fam, s.RulePriority, s.Bridge, s.Table))
	}
	for _, v := range c.Veths {
		delete(k.links, v)
		for _, p := range s.Ports {
			if p.Name == v {
				delete(k.links, p.Peer)
			}
		}
	}
	for _, p := range s.Ports {
		if !slices.Contains(c.Veths, p.Name) {
			if _, ok := k.links[p.Name]; ok {
				k.links[p.Name] = "port"
			}
		}
	}
	if c.Bridge {
		delete(k.links, s.Bridge)
	}
	return nil
}

// AddLink makes an existing link (a port that fanout does not create).
func (k *FakeKernel) AddLink(name string) {
	k.mu.Lock()
	k.links[name] = "port"
	k.mu.Unlock()
}

var errNoLink = errors.New("no such link")

func addrText(as []netip.Prefix) string {
	s := ""
	for _, a := range as {
		s += " " + a.String()
	}
	return s
}

// NextHopReachable implements NextHopProber: a next hop is unreachable while FailRoute
// makes routes via it fail with ENETUNREACH or EHOSTUNREACH.
func (k *FakeKernel) NextHopReachable(table int, nh netip.Addr) (bool, error) {
	k.enter()
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.failGw[nh.String()]
	return !errors.Is(err, syscall.ENETUNREACH) && !errors.Is(err, syscall.EHOSTUNREACH), nil
}
