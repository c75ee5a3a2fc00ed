//go:build linux

package netinst

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkKernel is the Kernel of one network namespace: one *netlink.Handle opened in that
// namespace for links, addresses, rules and dumps, and one more netlink socket in it for
// batched route changes. It is shared by every instance that lives in the namespace and safe
// for concurrent use: netlink's handle serialises requests on its socket, and mu guards the
// batch socket.
//
// Owner: whoever opened it (the daemon), which closes it after the manager has stopped.
// Cardinality: one per network namespace. Lifetime: the daemon's.
type NetlinkKernel struct {
	h  *netlink.Handle
	ns string

	mu    sync.Mutex
	batch routeBatcher
}

// OpenNetlinkKernel opens the kernel of the named network namespace (as `ip netns` names
// it); "" is the daemon's own namespace.
func OpenNetlinkKernel(ns string) (*NetlinkKernel, error) {
	nsh := netns.None()
	if ns != "" {
		var err error
		if nsh, err = netns.GetFromName(ns); err != nil {
			return nil, fmt.Errorf("network namespace %q: %w", ns, err)
		}
		defer nsh.Close()
	}
	h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in namespace %q: %w", ns, err)
	}
	s, err := nl.GetNetlinkSocketAt(nsh, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink socket in namespace %q: %w", ns, err)
	}
	// A kernel that never answers must not hold an actor forever.
	if err := s.SetReceiveTimeout(&unix.Timeval{Sec: 10}); err != nil {
		s.Close()
		h.Close()
		return nil, fmt.Errorf("netlink socket in namespace %q: %w", ns, err)
	}
	return &NetlinkKernel{h: h, ns: ns, batch: routeBatcher{s: s}}, nil
}

// Close closes the handle and the batch socket.
func (k *NetlinkKernel) Close() {
	k.h.Close()
	k.mu.Lock()
	k.batch.s.Close()
	k.mu.Unlock()
}

// Handle returns the netlink handle (for tests that look at the namespace themselves).
func (k *NetlinkKernel) Handle() *netlink.Handle { return k.h }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ReplaceRoutes implements Kernel: RTM_NEWROUTE with NLM_F_CREATE|NLM_F_REPLACE, batched.
func (k *NetlinkKernel) ReplaceRoutes(rs []Route) []RouteError {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.batch.do(unix.RTM_NEWROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE, rs, 0)
}

// DeleteRoutes implements Kernel: RTM_DELROUTE of fanout's protocol, batched; a route that
// is already gone (ESRCH) is not a failure.
func (k *NetlinkKernel) DeleteRoutes(rs []Route) []RouteError {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.batch.do(unix.RTM_DELROUTE, unix.NLM_F_REQUEST|unix.NLM_F_ACK, rs, syscall.ESRCH)
}

// ListRoutes implements Kernel. An interrupted dump (the table changed meanwhile) or a full
// socket buffer (ENOBUFS) is an error; the actor retries with back-off.
func (k *NetlinkKernel) ListRoutes(table int) ([]Route, error) {
	filter := &netlink.Route{Table: table, Protocol: RouteProtocol}
	nrs, err := k.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("dumping table %d: %w", table, err)
	}
	out := make([]Route, 0, len(nrs))
	for i := range nrs {
		if r, ok := fromNetlink(&nrs[i]); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func fromNetlink(nr *netlink.Route) (Route, bool) {
	r := Route{Table: nr.Table}
	if nr.Dst != nil {
		a, ok := netip.AddrFromSlice(nr.Dst.IP)
		if !ok {
			return r, false
		}
		ones, _ := nr.Dst.Mask.Size()
		if nr.Family == unix.AF_INET {
			a = a.Unmap()
		}
		r.Dst = netip.PrefixFrom(a, ones)
	} else if nr.Family == unix.AF_INET6 {
		r.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	} else {
		r.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if a, ok := netip.AddrFromSlice(nr.Gw); ok {
		if r.Dst.Addr().Is4() {
			a = a.Unmap()
		}
		r.Gw = a
	}
	if a, ok := netip.AddrFromSlice(nr.Src); ok {
		if r.Dst.Addr().Is4() {
			a = a.Unmap()
		}
		r.Src = a
	}
	return r, true
}

// Setup implements Kernel.
func (k *NetlinkKernel) Setup(s Setup) (Created, error) {
	var c Created
	var br netlink.Link
	if s.Bridge != "" {
		l, err := k.h.LinkByName(s.Bridge)
		if err != nil {
			if err := k.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: s.Bridge}}); err != nil {
				return c, fmt.Errorf("creating bridge %s: %w", s.Bridge, err)
			}
			c.Bridge = true
			if l, err = k.h.LinkByName(s.Bridge); err != nil {
				return c, fmt.Errorf("bridge %s: %w", s.Bridge, err)
			}
		}
		br = l
		if err := k.addrs(br, s.Addrs); err != nil {
			return c, fmt.Errorf("bridge %s: %w", s.Bridge, err)
		}
		if err := k.h.LinkSetUp(br); err != nil {
			return c, fmt.Errorf("bridge %s up: %w", s.Bridge, err)
		}
	}
	for _, p := range s.Ports {
		l, err := k.h.LinkByName(p.Name)
		if err != nil && p.Peer != "" {
			if err := k.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.Name}, PeerName: p.Peer}); err != nil {
				return c, fmt.Errorf("creating veth %s/%s: %w", p.Name, p.Peer, err)
			}
			c.Veths = append(c.Veths, p.Name)
			if peer, err := k.h.LinkByName(p.Peer); err == nil {
				_ = k.h.LinkSetUp(peer)
			}
			l, err = k.h.LinkByName(p.Name)
		}
		if err != nil {
			return c, fmt.Errorf("port %s: %w", p.Name, err)
		}
		if br != nil {
			if err := k.h.LinkSetMaster(l, br); err != nil {
				return c, fmt.Errorf("port %s into bridge %s: %w", p.Name, s.Bridge, err)
			}
		}
		if err := k.addrs(l, p.Addrs); err != nil {
			return c, fmt.Errorf("port %s: %w", p.Name, err)
		}
		if err := k.h.LinkSetUp(l); err != nil {
			return c, fmt.Errorf("port %s up: %w", p.Name, err)
		}
	}
	if br != nil && s.RulePriority > 0 {
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			err := k.h.RuleAdd(k.rule(s, fam))
			if err != nil && !errors.Is(err, syscall.EEXIST) {
				return c, fmt.Errorf("rule iif %s lookup %d: %w", s.Bridge, s.Table, err)
			}
			c.Rules = append(c.Rules, familyNumber(fam))
		}
	}
	return c, nil
}

func familyNumber(fam int) int {
	if fam == unix.AF_INET6 {
		return 6
	}
	return 4
}

func (k *NetlinkKernel) rule(s Setup, fam int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = fam
	r.Priority = s.RulePriority
	r.IifName = s.Bridge
	r.Table = s.Table
	return r
}

func (k *NetlinkKernel) addrs(l netlink.Link, as []netip.Prefix) error {
	for _, a := range as {
		if err := k.h.AddrReplace(l, &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	return nil
}

// Teardown implements Kernel.
func (k *NetlinkKernel) Teardown(s Setup, c Created) error {
	var errs []error
	for _, fam := range c.Rules {
		f := unix.AF_INET
		if fam == 6 {
			f = unix.AF_INET6
		}
		if err := k.h.RuleDel(k.rule(s, f)); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rule iif %s lookup %d: %w", s.Bridge, s.Table, err))
		}
	}
	created := map[string]bool{}
	for _, v := range c.Veths {
		created[v] = true
		if l, err := k.h.LinkByName(v); err == nil {
			if err := k.h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("veth %s: %w", v, err))
			}
		}
	}
	for _, p := range s.Ports {
		if created[p.Name] {
			continue
		}
		l, err := k.h.LinkByName(p.Name)
		if err != nil {
			continue
		}
		if s.Bridge != "" {
			_ = k.h.LinkSetNoMaster(l)
		}
		for _, a := range p.Addrs {
			_ = k.h.AddrDel(l, &netlink.Addr{IPNet: ipNet(a)})
		}
	}
	if c.Bridge {
		if l, err := k.h.LinkByName(s.Bridge); err == nil {
			if err := k.h.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("bridge %s: %w", s.Bridge, err))
			}
		}
	}
	return errors.Join(errs...)
}

// WatchRoutes implements RouteWatcher with a route subscription (RTNLGRP_IPV4_ROUTE and
// RTNLGRP_IPV6_ROUTE) opened in the kernel's namespace, with a large receive buffer since
// every route change in the namespace (fanout's own installs too) is multicast to it.
// netlink's goroutine reads the socket and closes updates when done is closed or the socket
// fails (ENOBUFS: notifications were dropped); the goroutine started here forwards the
// deletions of RouteProtocol in table, calls lost if the subscription died while still
// wanted, and exits.
func (k *NetlinkKernel) WatchRoutes(table int, done <-chan struct{}, gone func(Route), lost func()) (<-chan struct{}, error) {
	opts := netlink.RouteSubscribeOptions{ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: true}
	if k.ns != "" {
		nsh, err := netns.GetFromName(k.ns)
		if err != nil {
			return nil, fmt.Errorf("network namespace %q: %w", k.ns, err)
		}
		defer nsh.Close()
		opts.Namespace = &nsh
	}
	updates := make(chan netlink.RouteUpdate, 256)
	if err := netlink.RouteSubscribeWithOptions(updates, done, opts); err != nil {
		// Forcing the buffer size needs CAP_NET_ADMIN: try with the system's limit.
		opts.ReceiveBufferForceSize = false
		updates = make(chan netlink.RouteUpdate, 256)
		if err := netlink.RouteSubscribeWithOptions(updates, done, opts); err != nil {
			return nil, fmt.Errorf("subscribing to routes: %w", err)
		}
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for u := range updates {
			if u.Type != unix.RTM_DELROUTE || u.Table != table || u.Protocol != RouteProtocol {
				continue
			}
			if r, ok := fromNetlink(&u.Route); ok {
				gone(r)
			}
		}
		select {
		case <-done:
		default:
			lost()
		}
	}()
	return stopped, nil
}

// watchBuffer is the receive buffer of a route subscription: room for tens of thousands of
// notifications while the actor installs a full table.
const watchBuffer = 8 << 20

// NextHopReachable implements NextHopProber: nh can be a gateway when the kernel's route to
// it (a lookup through the namespace's rules, as the kernel falls back to when checking a new
// route's gateway) is a connected unicast route, one with no gateway of its own.
func (k *NetlinkKernel) NextHopReachable(table int, nh netip.Addr) (bool, error) {
	rs, err := k.h.RouteGet(nh.AsSlice())
	if errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("route get %s: %w", nh, err)
	}
	return len(rs) > 0 && rs[0].Gw == nil && rs[0].Type == unix.RTN_UNICAST, nil
}
