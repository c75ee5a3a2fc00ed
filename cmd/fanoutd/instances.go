package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/netinst"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// instanceConfigs derives the network instances from a configuration: one per vrf, and the
// default instance when fanout.instances names it. Kernel settings come from the
// fanout.instances entry of the same name; an instance without one installs nowhere.
func instanceConfigs(c *config.Config) []netinst.Config {
	kernel := map[string]*config.Instance{}
	for i := range c.Instances {
		kernel[c.Instances[i].Name] = &c.Instances[i]
	}
	var out []netinst.Config
	if in := kernel[netinst.DefaultName]; in != nil {
		out = append(out, instanceConfig(netinst.Config{Name: netinst.DefaultName}, in, c))
	}
	for _, v := range c.Vrfs {
		nc := netinst.Config{Name: v.Name, VRF: true, RD: proto.RD(v.RD)}
		for _, rt := range v.ImportRTs {
			nc.ImportRTs = append(nc.ImportRTs, [8]byte(rt))
		}
		for _, rt := range v.ExportRTs {
			nc.ExportRTs = append(nc.ExportRTs, [8]byte(rt))
		}
		out = append(out, instanceConfig(nc, kernel[v.Name], c))
	}
	return out
}

// vrfLabelBase is added to a vrf's id to make the MPLS label of its exported routes
// (labels below 16 are reserved, RFC 3032 §2.1).
const vrfLabelBase = 16

// vrfConfigs derives the RIB's VRF tables from the configuration's vrfs.
func vrfConfigs(c *config.Config) []rib.VRFConfig {
	var out []rib.VRFConfig
	for _, v := range c.Vrfs {
		rc := rib.VRFConfig{Name: v.Name, RD: proto.RD(v.RD), Label: vrfLabelBase + v.ID, ID: v.ID}
		for _, rt := range v.ImportRTs {
			rc.ImportRTs = append(rc.ImportRTs, [8]byte(rt))
		}
		for _, rt := range v.ExportRTs {
			rc.ExportRTs = append(rc.ExportRTs, [8]byte(rt))
		}
		out = append(out, rc)
	}
	return out
}

func instanceConfig(nc netinst.Config, in *config.Instance, c *config.Config) netinst.Config {
	nc.ReconcileInterval = c.Fanout.RouteReconcileInterval
	if in == nil {
		return nc
	}
	nc.Netns = in.Netns
	nc.Table = int(in.Table)
	nc.Install = in.Install
	nc.Src4, nc.Src6 = in.SourceV4, in.SourceV6
	nc.Setup = netinst.Setup{Bridge: in.Bridge, Addrs: in.BridgeAddresses, RulePriority: int(in.RulePriority)}
	for _, p := range in.Ports {
		nc.Setup.Ports = append(nc.Setup.Ports, netinst.Port{Name: p.Name, Peer: p.Peer, Addrs: p.Addresses})
	}
	return nc
}

// kernels opens one netinst.NetlinkKernel per network namespace, on first use.
//
// Owner: the daemon's instances. mu guards open. Lifetime: until close, after the manager
// has stopped every actor.
type kernels struct {
	mu   sync.Mutex
	open map[string]*netinst.NetlinkKernel
}

func (k *kernels) get(ns string) (netinst.Kernel, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if nk := k.open[ns]; nk != nil {
		return nk, nil
	}
	nk, err := netinst.OpenNetlinkKernel(ns)
	if err != nil {
		return nil, err
	}
	if k.open == nil {
		k.open = map[string]*netinst.NetlinkKernel{}
	}
	k.open[ns] = nk
	return nk, nil
}

func (k *kernels) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for ns, nk := range k.open {
		nk.Close()
		delete(k.open, ns)
	}
}

// instances is the daemon's network-instance side: the manager with its actors, the feed
// that brings them route events from the RIB, and the kernels they work on.
//
// Owner: the daemon. Lifetime: from startInstances to stopInstances.
type instances struct {
	m       *netinst.Manager
	feed    *netinst.Feed
	kernels kernels
}

// startInstances starts the network instances of c and feeds them from the RIB.
// o.kernel, when set, replaces the netlink kernels (tests).
func (d *daemon) startInstances(c *config.Config, o options) error {
	in := &instances{}
	kernelFor := func(nc *netinst.Config) (netinst.Kernel, error) { return in.kernels.get(nc.Netns) }
	if o.kernel != nil {
		kernelFor = func(nc *netinst.Config) (netinst.Kernel, error) { return o.kernel(nc.Netns) }
	}
	log := d.log.Named("netinst")
	deps := netinst.Deps{Logger: log, Kernel: kernelFor,
		Unreachable: func(name string, p netip.Prefix, nh netip.Addr) {
			log.Warn("next hop unreachable in the kernel", zap.String("instance", name),
				zap.Stringer("prefix", p), zap.Stringer("next-hop", nh))
		},
		NextHop: func(name string, nh netip.Addr, reachable bool) { d.setNextHop(log, name, nh, reachable) }}
	if d.metrics != nil {
		deps.Registerer = d.metrics.Registry()
	}
	m, err := netinst.NewManager(deps)
	if err != nil {
		return err
	}
	in.m = m
	d.inst = in
	d.instMgr.Store(m)
	cfgs := instanceConfigs(c)
	if err := m.Apply(cfgs); err != nil {
		return fmt.Errorf("fanout.instances: %w", err)
	}
	in.feed = netinst.NewFeed(d.sched, d.rib.Table(proto.IPv4Unicast), d.rib.Table(proto.IPv6Unicast))
	for _, v := range d.rib.VRFs().List() {
		in.feed.AddVRF(v.Name(), v.Table(proto.IPv4Unicast), v.Table(proto.IPv6Unicast))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.feed.Attach(ctx, m); err != nil {
		in.feed = nil
		return err
	}
	if len(cfgs) > 0 {
		if iv := c.Fanout.RouteReconcileInterval; iv > 0 {
			log.Info("kernel route reconciliation", zap.Duration("interval", iv), zap.Int("instances", len(cfgs)))
		} else {
			log.Info("kernel route reconciliation disabled (route-reconcile-interval 0)")
		}
	}
	return nil
}

// setNextHop marks the paths via nh (un)usable in the tables instance name's kernel speaks
// for: the default instance's are the global unicast tables, a VRF's its own VRF tables. It
// runs in the actor's goroutine and waits at most nextHopWait.
func (d *daemon) setNextHop(log *zap.Logger, name string, nh netip.Addr, reachable bool) {
	var tables []*rib.Table
	if name == netinst.DefaultName {
		tables = []*rib.Table{d.rib.Table(proto.IPv4Unicast), d.rib.Table(proto.IPv6Unicast)}
	} else if v := d.rib.VRF(name); v != nil {
		tables = []*rib.Table{v.Table(proto.IPv4Unicast), v.Table(proto.IPv6Unicast)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), nextHopWait)
	defer cancel()
	for _, t := range tables {
		if err := t.SetNextHopReachable(ctx, nh, reachable); err != nil {
			log.Warn("marking a next hop in the RIB failed", zap.String("instance", name),
				zap.Stringer("next-hop", nh), zap.Bool("reachable", reachable), zap.Error(err))
		}
	}
}

// nextHopWait bounds how long an actor waits for partition queue space to mark a next hop.
const nextHopWait = 5 * time.Second

// stopInstances detaches the feed, stops every actor (each removes its routes and what it
// set up) and closes the kernels, within ctx.
func (d *daemon) stopInstances(ctx context.Context) error {
	in := d.inst
	if in == nil {
		return nil
	}
	var errs []error
	if in.feed != nil {
		errs = append(errs, in.feed.Detach(ctx))
	}
	if err := in.m.Close(ctx); err != nil {
		// An actor still removing routes keeps its kernel: a closed netlink handle must
		// not be used, and the process is about to exit anyway.
		errs = append(errs, err)
	} else {
		in.kernels.close()
	}
	d.inst = nil
	d.instMgr.Store(nil)
	return errors.Join(errs...)
}

// reloadInstances applies a reloaded configuration's instances: added vrfs get actors,
// changed ones a new TargetVersion, removed ones are torn down. Nothing waits for an actor.
// The reloader calls it once the configuration is accepted.
func (d *daemon) reloadInstances(next *config.Config) error {
	if d.inst == nil {
		return nil
	}
	if !slices.EqualFunc(vrfConfigs(next), d.rib.VRFs().Configs(), vrfEqual) {
		d.log.Warn("vrfs changed: the RIB's VRF tables (import, export, what VRF instances are fed) change only at a restart; the instances' kernel settings apply now")
	}
	if err := d.inst.m.Apply(instanceConfigs(next)); err != nil {
		return fmt.Errorf("fanout.instances: %w", err)
	}
	return nil
}

// instanceStatuses returns the instances' statuses for the JSON diagnostics, nil when none
// run. Safe from any goroutine.
func (d *daemon) instanceStatuses() any {
	if m := d.instMgr.Load(); m != nil {
		return m.Status()
	}
	return nil
}

func vrfEqual(a, b rib.VRFConfig) bool { return reflect.DeepEqual(a, b) }
