package rib

import (
	"errors"
	"fmt"

	"github.com/fanoutd/fanout/db"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// FlagImported marks a path a VRF table holds because the VRF imported it from a VPN table
// (the best path of a VPN entry carrying one of the VRF's import route targets). Such paths
// are never exported back to VPN. Kept with the other path flags' values in path.go in mind:
// the high bit is free there.
const FlagImported uint8 = 1 << 7

// VRFConfig is one VRF as the RIB needs it (gobgpd's `vrfs`).
type VRFConfig struct {
	Name      string
	RD        proto.RD
	ImportRTs [][8]byte // route targets (RFC 4360 §4) whose VPN routes the VRF imports
	ExportRTs [][8]byte // route targets the VRF's exported routes carry
	Label     uint32    // MPLS label of the VRF's exported routes (one per VRF)
	ID        uint32    // gobgpd's vrf id, for the API
}

// VRF is one VRF's routing: an IPv4 and an IPv6 Table keyed by plain prefixes (no RD; an
// entry lives in the partition of its VPN twins as the hash ignores the RD), filled by import
// from the VPN tables and by routes learned or originated in the VRF, which are exported to
// the VPN tables with the RD, the export route targets and the VRF's label. Import and
// export run in the db.partition task of the changed entry, through db.Table.ApplyHere.
//
// Owner: its VRFs. Cardinality: one per configured VRF. Lifetime: the RIB's.
type VRF struct {
	cfg    VRFConfig
	label  Label
	tables [2]*Table // IPv4, IPv6
	vpn    [2]*Table // VPNv4, VPNv6: where exports go
	attrs  *AttrTable
	export *Source // the source of the VRF's exports in the VPN tables
	ids    [2]db.ListenerID

	// parts is indexed by partition and owned by that partition's db.partition tasks.
	parts []vrfPartition
}

// vrfPartition is a VRF's scratch and import sources in one partition.
type vrfPartition struct {
	imports    map[importKey]*importRef
	wire, ikey []byte // export attribute scratch
}

// importKey names the source of imported paths: one per (VPN peer session, RD), so one
// peer's routes to a prefix under several RDs stay distinct paths in the VRF table and
// best-path tie-breaking still sees the peer.
type importKey struct {
	peer *Source
	rd   proto.RD
}

type importRef struct {
	src *Source
	n   int // imported paths carrying src
}

// Name returns the VRF's name.
func (v *VRF) Name() string { return v.cfg.Name }

// Config returns the VRF's configuration.
func (v *VRF) Config() VRFConfig { return v.cfg }

// Table returns the VRF's table of fam (IPv4Unicast or IPv6Unicast), nil for another.
func (v *VRF) Table(fam proto.Family) *Table {
	switch fam {
	case proto.IPv4Unicast:
		return v.tables[0]
	case proto.IPv6Unicast:
		return v.tables[1]
	}
	return nil
}

// ExportSource returns the source of the VRF's exported paths in the VPN tables; its
// counters count them.
func (v *VRF) ExportSource() *Source { return v.export }

// VRFs is the RIB's set of VRFs with the import listeners on the VPN tables. The set is
// fixed when built.
//
// Owner: the RIB. Cardinality: one per RIB. Lifetime: the RIB's.
type VRFs struct {
	vpn  [2]*Table
	list []*VRF
	ids  [2]db.ListenerID // import listeners on vpn
}

// NewVRFs builds the tables of the VRFs cfgs beside the VPN tables vpn4 and vpn6 (same
// partitions, scheduler and attribute table). Names and RDs must be unique.
func NewVRFs(s *sched.Scheduler, attrs *AttrTable, vpn4, vpn6 *Table, queueLen int, cfgs []VRFConfig) (*VRFs, error) {
	vs := &VRFs{vpn: [2]*Table{vpn4, vpn6}, ids: [2]db.ListenerID{-1, -1}}
	names, rds := map[string]bool{}, map[proto.RD]string{}
	var errs []error
	for _, c := range cfgs {
		switch {
		case c.Name == "":
			errs = append(errs, errors.New("vrf: name: empty"))
		case names[c.Name]:
			errs = append(errs, fmt.Errorf("vrf %q: name: used twice", c.Name))
		case rds[c.RD] != "":
			errs = append(errs, fmt.Errorf("vrf %q: rd: %v is already vrf %q's", c.Name, c.RD, rds[c.RD]))
		}
		names[c.Name], rds[c.RD] = true, c.Name
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, c := range cfgs {
		v := &VRF{cfg: c, label: MakeLabel(c.Label), vpn: vs.vpn, attrs: attrs, ids: [2]db.ListenerID{-1, -1},
			export: &Source{Local: true, Counters: &SourceCounters{}}}
		for i, fam := range [2]proto.Family{proto.IPv4Unicast, proto.IPv6Unicast} {
			t, err := NewTable(s, attrs, TableConfig{Family: fam, Partitions: vpn4.Partitions(), QueueLen: queueLen, Best: vpn4.best})
			if err != nil {
				return nil, fmt.Errorf("vrf %q: %s table: %w", c.Name, fam, err)
			}
			v.tables[i] = t
		}
		v.parts = make([]vrfPartition, vpn4.Partitions())
		vs.list = append(vs.list, v)
	}
	return vs, nil
}

// List returns the VRFs in configuration order.
func (vs *VRFs) List() []*VRF { return vs.list }

// Get returns the VRF named name, or nil.
func (vs *VRFs) Get(name string) *VRF {
	for _, v := range vs.list {
		if v.cfg.Name == name {
			return v
		}
	}
	return nil
}

// Register adds the import listeners (on the VPN tables) and export listeners (on each
// VRF's tables). c must exclude every db.partition and db.walk task (bgp.config). The VRF
// tables must have the VPN tables' partition count, so an entry and its twins share a
// partition and its task.
func (vs *VRFs) Register(c *sched.Ctx) error {
	if len(vs.list) == 0 {
		return nil
	}
	for i := range vs.vpn {
		i := i
		if vs.vpn[i].Partitions() != vs.list[0].tables[i].Partitions() {
			return fmt.Errorf("vrf tables: %d partitions, the VPN table %d", vs.list[0].tables[i].Partitions(), vs.vpn[i].Partitions())
		}
		id, err := vs.vpn[i].DB().Register(c, db.Listener[Key, Entry]{
			Name:    "vrf-import",
			Changed: func(c *sched.Ctx, e *DBEntry) { vs.imported(c, i, e) },
			Visit:   func(*sched.Ctx, *DBEntry) {}, // walks run beside other tables' walks: no import there
		})
		if err != nil {
			return err
		}
		vs.ids[i] = id
		for _, v := range vs.list {
			v := v
			id, err := v.tables[i].DB().Register(c, db.Listener[Key, Entry]{
				Name:    "vrf-export",
				Changed: func(c *sched.Ctx, e *DBEntry) { v.exported(c, i, e) },
				Visit:   func(*sched.Ctx, *DBEntry) {},
			})
			if err != nil {
				return err
			}
			v.ids[i] = id
		}
	}
	return nil
}

// importState is an import listener's state on a VPN entry: which VRFs imported its best
// path, under which import source.
type importState struct {
	recs []importRec
}

type importRec struct {
	vrf *VRF
	key importKey
	src *Source
}

// imported runs in the db.partition task of the VPN entry e (table vpn[i]): the entry's
// best path goes into (or its previous import leaves) every VRF whose import route targets
// it carries.
func (vs *VRFs) imported(c *sched.Ctx, i int, e *DBEntry) {
	sched.Check(c, sched.DBPartition)
	part := c.Instance()
	st, _ := e.State(vs.ids[i]).(*importState)
	best := e.Data.Best()
	k := e.Key()
	var keep []importRec
	if st != nil {
		keep = st.recs[:0:0]
	}
	for _, v := range vs.list {
		old := st.find(v)
		vk := k.WithRD(proto.RD{})
		if best != nil && best.Src != v.export && HasRouteTarget(best.Attrs, v.cfg.ImportRTs) {
			ik := importKey{peer: best.Src, rd: k.RD()}
			rec := importRec{vrf: v, key: ik}
			if old != nil && old.key == ik {
				rec.src = old.src
			} else {
				rec.src = v.acquire(part, ik)
			}
			v.attrs.Ref(best.Attrs)
			v.tables[i].DB().ApplyHere(c, vk, Op{Kind: OpAdd, Path: Path{Src: rec.src, Attrs: best.Attrs, Label: best.Label,
				Flags: best.Flags&^FlagImported | FlagImported}})
			keep = append(keep, rec)
			if old != nil && old.key != ik {
				v.tables[i].DB().ApplyHere(c, vk, Op{Kind: OpWithdraw, Path: Path{Src: old.src}})
				v.release(part, old.key)
			}
			continue
		}
		if old != nil {
			v.tables[i].DB().ApplyHere(c, vk, Op{Kind: OpWithdraw, Path: Path{Src: old.src}})
			v.release(part, old.key)
		}
	}
	switch {
	case len(keep) == 0:
		e.SetState(vs.ids[i], nil)
	case st != nil:
		st.recs = keep
	default:
		e.SetState(vs.ids[i], &importState{recs: keep})
	}
}

func (st *importState) find(v *VRF) *importRec {
	if st == nil {
		return nil
	}
	for j := range st.recs {
		if st.recs[j].vrf == v {
			return &st.recs[j]
		}
	}
	return nil
}

// acquire returns the import source of k in partition part, taking a reference.
func (v *VRF) acquire(part int, k importKey) *Source {
	p := &v.parts[part]
	if p.imports == nil {
		p.imports = map[importKey]*importRef{}
	}
	r := p.imports[k]
	if r == nil {
		peer := *k.peer
		peer.Counters = nil // the peer's counters count its VPN paths, not their copies
		r = &importRef{src: &peer}
		p.imports[k] = r
	}
	r.n++
	return r.src
}

// release drops a reference on k's import source in partition part.
func (v *VRF) release(part int, k importKey) {
	p := &v.parts[part]
	if r := p.imports[k]; r != nil {
		if r.n--; r.n <= 0 {
			delete(p.imports, k)
		}
	}
}

// exported runs in the db.partition task of the VRF entry e (table tables[i]): a best path
// learned or originated in the VRF is put in the VPN table under the VRF's RD with its
// export route targets and label; otherwise the export is withdrawn.
func (v *VRF) exported(c *sched.Ctx, i int, e *DBEntry) {
	sched.Check(c, sched.DBPartition)
	k := e.Key().WithRD(v.cfg.RD)
	best := e.Data.Best()
	if best == nil || best.Flags&FlagImported != 0 {
		v.vpn[i].DB().ApplyHere(c, k, Op{Kind: OpWithdraw, Path: Path{Src: v.export}})
		return
	}
	p := &v.parts[c.Instance()]
	p.wire = appendWithRouteTargets(p.wire[:0], best.Attrs.Wire(), v.cfg.ExportRTs)
	p.ikey = InternKey(p.ikey, p.wire, best.Attrs.NextHop)
	a := v.attrs.Intern(p.ikey, &best.Attrs.Summary)
	v.vpn[i].DB().ApplyHere(c, k, Op{Kind: OpAdd, Path: Path{Src: v.export, Attrs: a, Label: v.label}})
}

// Configs returns the VRFs' configurations in order.
func (vs *VRFs) Configs() []VRFConfig {
	out := make([]VRFConfig, len(vs.list))
	for i, v := range vs.list {
		out[i] = v.cfg
	}
	return out
}
