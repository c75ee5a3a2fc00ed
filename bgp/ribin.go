package bgp

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// ribFamilies are the families of the global RIB, in table order.
var ribFamilies = [...]proto.Family{proto.IPv4Unicast, proto.IPv6Unicast, proto.VPNv4, proto.VPNv6}

func famIndex(f proto.Family) int {
	for i, g := range ribFamilies {
		if g == f {
			return i
		}
	}
	return -1
}

// RIBConfig configures the routing side.
type RIBConfig struct {
	LocalAS    uint32
	RouterID   netip.Addr
	ClusterID  netip.Addr // route-reflector cluster id (RFC 4456 §7); zero: RouterID
	Partitions int        // 0: one per worker of the scheduler
	QueueLen   int        // per partition input queue, in requests (0: 1024)
	Best       rib.BestOptions
	// Pacing configures when the walks that send sessions their table start (pacing.go);
	// Pacer, when set, replaces the default pacer.
	Pacing PacingConfig
	Pacer  Pacer
	// Clock times sync waits and pacing delays; nil: the system clock.
	Clock Clock
	// VRFs are the VRF tables to build beside the VPN tables (vrf.go); fixed for the RIB's life.
	VRFs []rib.VRFConfig
}

// RIB is the server's routing side: one partitioned table per family and the process-wide
// table of interned attribute sets. It implements Routing.
//
// Owner: the Server. Cardinality: one per server. Lifetime: the server's; ctx ends with it.
type RIB struct {
	cfg    RIBConfig
	log    *zap.Logger
	ctx    context.Context
	attrs  *rib.AttrTable
	tables [len(ribFamilies)]*rib.Table
	exp    *exportManager // RibOuts and scheduling groups (group.go)
	vrfs   *rib.VRFs      // VRF tables with VPN import and export (vrf.go)
	// vrfOrigins are the VRFs' local origins by name (vrf.go); fixed once built.
	vrfOrigins map[string]*LocalOrigin

	grMu     sync.Mutex
	retained map[uint32]*retainedSource // restarting peers' stale routes, by PeerIndex (gr.go); guarded by grMu
}

// NewRIB builds the tables on s. ctx bounds every wait on a full partition queue made on
// behalf of a session that is going down.
func NewRIB(ctx context.Context, s *sched.Scheduler, log *zap.Logger, cfg RIBConfig) (*RIB, error) {
	if !cfg.ClusterID.IsValid() {
		cfg.ClusterID = cfg.RouterID
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = s.Workers()
	}
	if cfg.QueueLen == 0 {
		// Short partition queues keep the partitions close to each other in the stream of
		// received UPDATEs: what one UPDATE makes reaches a RibOut's queue from every
		// partition within about this many updates, where the queue groups it by
		// attribute set (send.go's sendHold is above it). Readers block sooner, which is
		// the back-pressure they are for.
		cfg.QueueLen = 1024
	}
	r := &RIB{cfg: cfg, log: log, ctx: ctx, attrs: rib.NewAttrTable(), retained: map[uint32]*retainedSource{}}
	for i, f := range ribFamilies {
		t, err := rib.NewTable(s, r.attrs, rib.TableConfig{Family: f, Partitions: cfg.Partitions, QueueLen: cfg.QueueLen, Best: cfg.Best})
		if err != nil {
			return nil, fmt.Errorf("rib table %s: %w", f, err)
		}
		r.tables[i] = t
	}
	exp, err := newExportManager(r, s)
	if err != nil {
		return nil, err
	}
	r.exp = exp
	if err := r.buildVRFs(ctx, s); err != nil {
		return nil, err
	}
	return r, nil
}

// Table returns the table of fam, nil when fanout has none.
func (r *RIB) Table(fam proto.Family) *rib.Table {
	if i := famIndex(fam); i >= 0 {
		return r.tables[i]
	}
	return nil
}

// Attrs returns the interned attribute table.
func (r *RIB) Attrs() *rib.AttrTable { return r.attrs }

// SessionUp implements Routing.
func (r *RIB) SessionUp(info *SessionInfo) Ingest {
	// A restarting peer's new session takes over its stale routes (gr.go).
	if src, wait := r.adopt(info); src != nil {
		in := r.newIngest(info, src)
		d := defaultStaleTime
		if info.Peer != nil && info.Peer.cfg.GracefulRestart.StaleTime > 0 {
			d = info.Peer.cfg.GracefulRestart.StaleTime
		}
		in.waitStale(wait, d)
		return in
	}
	src := &rib.Source{
		ID:       info.PeerIndex,
		Addr:     info.PeerAddr,
		RouterID: info.RouterID,
		AS:       info.PeerAS,
		EBGP:     info.EBGP,
		Client:   info.RRClient,
		RSClient: info.RSClient,
		Counters: &rib.SourceCounters{},
	}
	if info.Counters != nil {
		src.Counters = &info.Counters.Routes // the peer's counters, which the API shows
	}
	return r.newIngest(info, src)
}

// newIngest returns the Ingest of a session whose paths are src's and joins the session to
// its RibOuts.
func (r *RIB) newIngest(info *SessionInfo, src *rib.Source) *ribIn {
	in := &ribIn{r: r, info: info, src: src, tables: r.ingestTables(info)} // vrfpeer.go
	for i := range in.reqs {
		in.reqs[i] = make([][]rib.Request, r.tables[i].Partitions())
	}
	if info.Peer != nil {
		// The session joins its RibOuts (one per family) in a bgp.membership task.
		r.exp.post(memberOp{kind: opJoin, info: info, src: src})
	}
	in.checkSynced()
	return in
}

// ribIn is the Ingest of one session: it turns decoded UPDATEs into partition requests.
//
// Owner: the session's reader goroutine (Update, EndOfRIB), then its peer goroutine (Down,
// after the reader stopped). Cardinality: one per established session. Lifetime: the
// session's; its scratch memory goes with it.
type ribIn struct {
	r    *RIB
	info *SessionInfo
	src  *rib.Source
	reqs [len(ribFamilies)][][]rib.Request // per family, per partition: this UPDATE's requests
	wire []byte                            // canonical attribute encoding scratch
	key  []byte                            // intern key scratch
	eor  [len(ribFamilies)]bool
	// stale are the families whose routes from before the peer restarted await its
	// End-of-RIB (gr.go).
	stale staleWait

	// tables are where the session's routes go, by family: the global tables, or a VRF's
	// (vrf.go: its unicast tables, nil for the VPN families, whose routes are ignored).
	tables *[len(ribFamilies)]*rib.Table
}

// Source returns the rib source of the session's paths.
func (in *ribIn) Source() *rib.Source { return in.src }

// Update implements Ingest.
func (in *ribIn) Update(ctx context.Context, u *proto.Update, decodeErr *proto.Error) (int, error) {
	opts := &in.info.Recv
	withdrawAll := decodeErr != nil && decodeErr.Action == proto.ActionTreatAsWithdraw

	w := u.IterWithdrawn(opts)
	in.withdraw(proto.IPv4Unicast, &w)
	if u.Attrs.Present.Has(proto.AttrMPUnreach) {
		mu := u.IterMPUnreach(opts)
		in.withdraw(u.Attrs.MPUnreach.Family, &mu)
	}
	nl := u.IterNLRI(opts)
	var mr proto.NLRIIter
	hasMP := u.Attrs.Present.Has(proto.AttrMPReach)
	if hasMP {
		mr = u.IterMPReach(opts)
	}
	if withdrawAll {
		// RFC 7606 §2: treat-as-withdraw: every prefix of the message is withdrawn.
		in.withdraw(proto.IPv4Unicast, &nl)
		if hasMP {
			in.withdraw(u.Attrs.MPReach.Family, &mr)
		}
	} else if len(u.NLRI) > 0 || hasMP {
		flags, sum := in.summarise(&u.Attrs)
		if err := in.encodeAttrs(&u.Attrs); err != nil {
			// An attribute set fanout cannot re-encode is not stored; its prefixes are withdrawn.
			in.r.log.Warn("attributes not storable, prefixes treated as withdrawn", zap.Stringer("peer", in.info.PeerAddr), zap.Error(err))
			in.withdraw(proto.IPv4Unicast, &nl)
			if hasMP {
				in.withdraw(u.Attrs.MPReach.Family, &mr)
			}
		} else {
			if len(u.NLRI) > 0 {
				in.announce(proto.IPv4Unicast, u.Attrs.NextHop, flags, sum, u.IterNLRI(opts), &nl)
			}
			if hasMP {
				in.announce(u.Attrs.MPReach.Family, u.Attrs.MPReach.NextHop, flags, sum, u.IterMPReach(opts), &mr)
			}
		}
	}
	err := in.flush(ctx)
	return int(in.src.Counters.Received.Load()), err
}

func (in *ribIn) withdraw(fam proto.Family, it *proto.NLRIIter) {
	fi := famIndex(fam)
	if fi < 0 || in.tables[fi] == nil {
		return
	}
	t := in.tables[fi]
	var n proto.NLRI
	for it.Next(&n) {
		k := rib.KeyOf(&n)
		p := t.PartitionOf(k)
		in.reqs[fi][p] = append(in.reqs[fi][p], rib.Request{Key: k, Op: rib.Op{Kind: rib.OpWithdraw, Path: rib.Path{Src: in.src, ID: n.PathID}}})
	}
}

// announce interns the attribute set once with one reference per prefix and queues an
// add per prefix. count is a fresh iterator over the same NLRI, used to count them first.
func (in *ribIn) announce(fam proto.Family, nh netip.Addr, flags uint8, sum rib.Summary, count proto.NLRIIter, it *proto.NLRIIter) {
	fi := famIndex(fam)
	if fi < 0 || in.tables[fi] == nil {
		return
	}
	var n proto.NLRI
	total := 0
	for count.Next(&n) {
		total++
	}
	if total == 0 {
		return
	}
	if !nh.IsValid() || nh.IsUnspecified() {
		flags |= rib.FlagNextHopUnreachable
	}
	sum.NextHop = nh
	in.key = rib.InternKey(in.key, in.wire, nh)
	a := in.r.attrs.InternN(in.key, &sum, total)
	t := in.tables[fi]
	for it.Next(&n) {
		k := rib.KeyOf(&n)
		p := t.PartitionOf(k)
		in.reqs[fi][p] = append(in.reqs[fi][p], rib.Request{Key: k, Op: rib.Op{Kind: rib.OpAdd, Path: rib.Path{
			Src: in.src, Attrs: a, ID: n.PathID, Label: rib.LabelOf(n.Labels), Flags: flags,
		}}})
	}
}

// summarise computes what best path reads and the path flags of the RFC loop checks.
func (in *ribIn) summarise(a *proto.Attrs) (uint8, rib.Summary) {
	s := rib.Summary{
		Origin:       a.Origin,
		HasMED:       a.Present.Has(proto.AttrMED),
		MED:          a.MED,
		HasLocalPref: a.Present.Has(proto.AttrLocalPref),
		LocalPref:    a.LocalPref,
		PathLen:      uint16(min(a.ASPath.Len(), math.MaxUint16)),
		ClusterLen:   uint16(min(len(a.ClusterList)/4, math.MaxUint16)),
	}
	if as, ok := a.ASPath.NeighborAS(); ok {
		s.NeighborAS = as
	}
	if a.Present.Has(proto.AttrOriginatorID) && a.OriginatorID.Is4() {
		s.OriginatorID, s.HasOriginatorID = a.OriginatorID.As4(), true
	}
	var flags uint8
	// RFC 4271 §9.1.2: a route whose AS_PATH holds our AS is a loop.
	if in.r.cfg.LocalAS != 0 && a.ASPath.Contains(in.r.cfg.LocalAS) {
		flags |= rib.FlagASLoop
	}
	// RFC 4456 §8: our own ORIGINATOR_ID, or our CLUSTER_ID in CLUSTER_LIST, is a loop.
	if s.HasOriginatorID && netip.AddrFrom4(s.OriginatorID) == in.r.cfg.RouterID {
		flags |= rib.FlagASLoop
	}
	// The cluster ids we reflect with: the RIB's and the one configured for this peer.
	ids := [2]netip.Addr{in.r.cfg.ClusterID}
	if in.info.Peer != nil {
		ids[1] = in.info.Peer.cfg.ClusterID
	}
	r := proto.NewReader(a.ClusterList)
	var c [4]byte
	for r.Copy(c[:]) {
		if id := netip.AddrFrom4(c); id == ids[0] || id == ids[1] {
			flags |= rib.FlagASLoop
			break
		}
	}
	return flags, s
}

// encodeAttrs writes the canonical encoding of a without NEXT_HOP (the next hop is kept
// beside the encoding, per family) into in.wire.
func (in *ribIn) encodeAttrs(a *proto.Attrs) error {
	saved := a.Present
	a.Present.Clear(proto.AttrNextHop)
	var err error
	in.wire, err = proto.AppendAttrs(in.wire[:0], a, &proto.SessionOptions{AS4: true})
	a.Present = saved
	return err
}

// flush enqueues this UPDATE's requests, one batch per partition, waiting on full queues.
// When ctx ends first, the references of the requests left unqueued are given back.
func (in *ribIn) flush(ctx context.Context) error {
	var failed error
	for fi := range in.reqs {
		t := in.tables[fi]
		for p, reqs := range in.reqs[fi] {
			if len(reqs) == 0 {
				continue
			}
			if failed == nil {
				n, err := t.Enqueue(ctx, p, reqs)
				if err != nil {
					failed = err
					t.Release(reqs[n:])
				}
			} else {
				t.Release(reqs)
			}
			clear(reqs) // drop the Source and Attrs pointers the scratch holds
			in.reqs[fi][p] = reqs[:0]
		}
	}
	return failed
}

// EndOfRIB implements Ingest.
func (in *ribIn) EndOfRIB(fam proto.Family) {
	if fi := famIndex(fam); fi >= 0 {
		in.eor[fi] = true
	}
	in.staleEndOfRIB(fam)
	in.checkSynced()
}

// Down implements Ingest: one sweep per partition of every table removes the session's
// paths, queued after everything it announced.
func (in *ribIn) Down() {
	in.stopStale()
	if in.info.Peer != nil {
		in.r.exp.post(memberOp{kind: opLeave, info: in.info})
	}
	for _, t := range in.tables {
		if t == nil {
			continue
		}
		if err := t.DropSource(in.r.ctx, in.src); err != nil {
			in.r.log.Warn("dropping a session's routes did not finish", zap.Stringer("peer", in.info.PeerAddr), zap.Error(err))
		}
	}
	in.release()
}

// release gives back the session's scratch memory.
func (in *ribIn) release() {
	for fi := range in.reqs {
		in.reqs[fi] = nil
	}
	in.wire, in.key = nil, nil
}
