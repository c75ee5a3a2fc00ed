package bgp

import (
	"context"
	"fmt"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// vrfSetupWait bounds the wait for the bgp.config task that registers the VRF listeners.
const vrfSetupWait = 10 * time.Second

// buildVRFs builds the VRF tables of r.cfg.VRFs beside the VPN tables and registers their
// import and export listeners in a bgp.config task, before any route arrives.
func (r *RIB) buildVRFs(ctx context.Context, s *sched.Scheduler) error {
	vs, err := rib.NewVRFs(s, r.attrs, r.Table(proto.VPNv4), r.Table(proto.VPNv6), r.cfg.QueueLen, r.cfg.VRFs)
	if err != nil {
		return fmt.Errorf("vrfs: %w", err)
	}
	r.vrfs = vs
	if len(vs.List()) == 0 {
		return nil
	}
	r.vrfOrigins = map[string]*LocalOrigin{}
	for _, v := range vs.List() {
		r.vrfOrigins[v.Name()] = r.newVRFOrigin(v)
	}
	done := make(chan error, 1)
	if err := s.Run(sched.BGPConfig, 0, func(c *sched.Ctx) sched.Result {
		done <- vs.Register(c)
		return sched.Done
	}); err != nil {
		return fmt.Errorf("vrfs: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, vrfSetupWait)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("vrfs: %w", err)
		}
		return nil
	case <-wait.Done():
		return fmt.Errorf("vrfs: registering the listeners: %w", wait.Err())
	}
}

// VRFs returns the RIB's VRFs (an empty set when none is configured).
func (r *RIB) VRFs() *rib.VRFs { return r.vrfs }

// VRF returns the VRF named name, or nil.
func (r *RIB) VRF(name string) *rib.VRF { return r.vrfs.Get(name) }

// VRFOrigin returns the local origin of VRF name's routes (the API's AddPath and DeletePath
// in a VRF), nil when there is no such VRF. It is built with the VRF and lives as long as
// the RIB; nothing closes it.
func (r *RIB) VRFOrigin(name string) *LocalOrigin { return r.vrfOrigins[name] }

// newVRFOrigin is a LocalOrigin whose routes go into v's unicast tables: the session-less
// ingest of NewLocalOrigin, with the VRF's tables in place of the global ones.
func (r *RIB) newVRFOrigin(v *rib.VRF) *LocalOrigin {
	lo := &LocalOrigin{}
	opts := proto.SessionOptions{AS4: true, ExtendedMessage: true}
	info := &SessionInfo{
		LocalAS: r.cfg.LocalAS, PeerAS: r.cfg.LocalAS, RouterID: r.cfg.RouterID,
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}, Recv: opts, Send: opts,
		PeerIndex: LocalSourceID, Counters: &lo.counters,
	}
	src := &rib.Source{ID: LocalSourceID, RouterID: r.cfg.RouterID, AS: r.cfg.LocalAS, Local: true, Counters: &lo.counters.Routes}
	in := r.newIngest(info, src)
	in.tables = &[len(ribFamilies)]*rib.Table{v.Table(proto.IPv4Unicast), v.Table(proto.IPv6Unicast)}
	lo.in = in
	return lo
}
