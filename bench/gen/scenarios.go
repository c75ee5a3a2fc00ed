package gen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
)

// Workload definitions. Each plan function builds the peers and the model from the seed;
// the run closure connects, sends and times.
//
//	converge  Speakers × Prefixes (Overlap shared by all speakers, shortest AS path unique)
//	          to Receivers; time until every receiver holds the expected table.
//	churn     converge, then each speaker re-announces Reannounce of its prefixes with new
//	          attributes and withdraws Withdraw of them, at Rate (0: full speed); time until
//	          the receivers hold the exact final table.
//	fanout    one speaker with a full table (MRTFile's RIB, or Prefixes synthetic) to
//	          Receivers.
//	ixp       Speakers members each announcing Prefixes disjoint prefixes; every member also
//	          receives all the others'.
//	storm     converge, then every receiver disconnects (Cease) and all reconnect at once;
//	          time until all hold the full table again; sessions dropped are recorded.
//	replay    one speaker replays MRTFile (RIB or updates) at Speed (0: full speed) to
//	          Receivers; time until they hold the final table.
//	latency   one speaker, one receiver, Prefixes sent at Rate; per-prefix propagation
//	          p50/p90/p99 from send to receive timestamps.

// speakerPools holds each speaker's attribute sets by path length.
type speakerPools [][9][]*AttrSet

func buildPools(pl *Plan, r *rand.Rand, role targets.Role) speakerPools {
	p := pl.Params
	n := p.AttrSets
	if n <= 0 {
		n = max(16, p.Prefixes/10)
	}
	var pools speakerPools
	for _, peer := range pl.Peers {
		if !peer.Speaker {
			continue
		}
		pools = append(pools, attrPool(r, n, peer.Index, peer.AS, role == targets.RouteServer))
		pl.model.Speakers = append(pl.model.Speakers, &SpeakerRIB{Peer: peer, RIB: make(map[netip.Prefix]*AttrSet)})
	}
	return pools
}

// pick returns a random set of path length l (1-8), or of any length when l is 0.
func (sp speakerPools) pick(r *rand.Rand, spk, l int) *AttrSet {
	if l == 0 {
		l = 1 + r.IntN(8)
	}
	b := sp[spk][l]
	return b[r.IntN(len(b))]
}

// announcements lists, per speaker, what it announces first, in a deterministic order.
type announcements [][]Announcement

// fillSynthetic draws the speakers' prefixes: Overlap×Prefixes shared by every speaker
// (each shared prefix has one speaker with a strictly shortest AS path, the others longer),
// the rest unique to each.
func fillSynthetic(pl *Plan, r *rand.Rand, pools speakerPools, disjoint bool) announcements {
	p := pl.Params
	n := len(pl.model.Speakers)
	g := NewPrefixGen(p.Seed)
	ann := make(announcements, n)
	shared := 0
	if n > 1 && !disjoint {
		shared = int(p.Overlap * float64(p.Prefixes))
	}
	for j := range shared {
		pfx := g.Next(p.IPv6)
		w := j % n
		lw := 1 + r.IntN(4)
		for s := range n {
			l := lw
			if s != w {
				l = lw + 1 + r.IntN(8-lw)
			}
			ann[s] = append(ann[s], Announcement{Prefix: pfx, Attrs: pools.pick(r, s, l)})
		}
	}
	for s := range n {
		for range p.Prefixes - shared {
			ann[s] = append(ann[s], Announcement{Prefix: g.Next(p.IPv6), Attrs: pools.pick(r, s, 0)})
		}
	}
	for s, as := range ann {
		for _, a := range as {
			pl.model.Speakers[s].RIB[a.Prefix] = a.Attrs
		}
	}
	return ann
}

func planConverge(pl *Plan, base netip.Addr, role targets.Role, churn bool) error {
	p := pl.Params
	if p.Speakers < 1 || p.Receivers < 1 || p.Prefixes < 1 {
		return errors.New("need at least one speaker, one receiver and one prefix")
	}
	pl.addPeers(base, role, p.Speakers, p.Receivers, false, p.IPv6 > 0)
	r := rand.New(rand.NewPCG(p.Seed, 1))
	pools := buildPools(pl, r, role)
	ann := fillSynthetic(pl, r, pools, false)
	pl.run = func(ctx context.Context, rn *runner) error {
		if err := rn.converge(ctx, ann, true); err != nil || !churn {
			return err
		}
		rn.res.Headline = "churn"
		return rn.churn(ctx, ann, pools, rand.New(rand.NewPCG(p.Seed, 2)))
	}
	return nil
}

// converge connects receivers then speakers, sets the expectation, and times the initial
// announcement of ann.
func (r *runner) converge(ctx context.Context, ann announcements, connect bool) error {
	r.res.Headline = "converge"
	recv, spk := r.receivers(), r.speakersOnly()
	if connect {
		if err := r.connect(ctx, recv, r.pl.Params.Parallel); err != nil {
			return err
		}
		if err := r.connect(ctx, spk, r.pl.Params.Parallel); err != nil {
			return err
		}
	}
	if err := r.expect(recv); err != nil {
		return err
	}
	senders, sent, err := r.encodeAll(ann, nil, 0)
	if err != nil {
		return err
	}
	return r.phase(ctx, "converge", recv, r.env.Now(), sent, senders...).err()
}

// encodeAll encodes each speaker's announcements and withdrawals into messages and returns
// one sender per speaker, with the number of prefixes sent. rate is split among them.
func (r *runner) encodeAll(ann announcements, wd [][]netip.Prefix, rate float64) ([]sender, int, error) {
	var senders []sender
	sent := 0
	for s, sr := range r.pl.model.Speakers {
		var w []netip.Prefix
		if wd != nil {
			w = wd[s]
		}
		i := r.peerIndex(sr.Peer)
		sess := r.sessions[i]
		if sess == nil {
			return nil, 0, fmt.Errorf("%s is not connected", sr.Peer.Name)
		}
		buf, err := encodeUpdates(sess.Options(), ann[s], w, nil)
		if err != nil {
			return nil, 0, err
		}
		snd, err := r.sendBuffer(i, buf, rate/float64(len(r.pl.model.Speakers)), nil)
		if err != nil {
			return nil, 0, err
		}
		senders = append(senders, snd)
		sent += len(ann[s]) + len(w)
	}
	return senders, sent, nil
}

func (r *runner) peerIndex(p Peer) int {
	for i, q := range r.pl.Peers {
		if q.Addr == p.Addr {
			return i
		}
	}
	return -1
}

// churn re-announces and withdraws a fraction of each speaker's prefixes and times the
// receivers reaching the final table. A withdrawal that would leave a tie for best path is
// skipped so the expectation stays unambiguous.
func (r *runner) churn(ctx context.Context, ann announcements, pools speakerPools, rng *rand.Rand) error {
	p := r.pl.Params
	m := r.pl.model
	re := make(announcements, len(m.Speakers))
	wd := make([][]netip.Prefix, len(m.Speakers))
	for s, as := range ann {
		for _, a := range as {
			x := rng.Float64()
			cur, ok := m.Speakers[s].RIB[a.Prefix]
			if !ok {
				continue
			}
			switch {
			case x < p.Withdraw:
				if !m.uniqueBestWithout(a.Prefix, s) {
					continue
				}
				delete(m.Speakers[s].RIB, a.Prefix)
				wd[s] = append(wd[s], a.Prefix)
			case x < p.Withdraw+p.Reannounce:
				next := pools.pick(rng, s, cur.PathLen())
				for tries := 0; next == cur && tries < 8; tries++ {
					next = pools.pick(rng, s, cur.PathLen())
				}
				m.Speakers[s].RIB[a.Prefix] = next
				re[s] = append(re[s], Announcement{Prefix: a.Prefix, Attrs: next})
			}
		}
	}
	recv := r.receivers()
	if err := r.expect(recv); err != nil {
		return err
	}
	senders, sent, err := r.encodeAll(re, wd, p.Rate)
	if err != nil {
		return err
	}
	return r.phase(ctx, "churn", recv, r.env.Now(), sent, senders...).err()
}

func planStorm(pl *Plan, base netip.Addr, role targets.Role) error {
	p := pl.Params
	if p.Speakers < 1 || p.Receivers < 1 || p.Prefixes < 1 {
		return errors.New("need at least one speaker, one receiver and one prefix")
	}
	pl.addPeers(base, role, p.Speakers, p.Receivers, false, p.IPv6 > 0)
	r := rand.New(rand.NewPCG(p.Seed, 1))
	pools := buildPools(pl, r, role)
	ann := fillSynthetic(pl, r, pools, false)
	pl.run = func(ctx context.Context, rn *runner) error {
		if err := rn.converge(ctx, ann, true); err != nil {
			return err
		}
		rn.res.Headline = "reconnect"
		recv := rn.receivers()
		t0 := rn.env.Now()
		var wg sync.WaitGroup
		for _, i := range recv {
			s := rn.sessions[i]
			if d := s.Dropped(); d != "" {
				rn.dropped = append(rn.dropped, s.Name()+": "+d)
			}
			rn.sessions[i] = nil
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.Close(true)
			}()
		}
		wg.Wait()
		for _, i := range recv {
			rn.tables[i].Reset()
		}
		reconnect := func(ctx context.Context) error { return rn.connect(ctx, recv, 0) }
		return rn.phase(ctx, "reconnect", recv, t0, 0, reconnect).err()
	}
	return nil
}

func planFanout(pl *Plan, base netip.Addr, role targets.Role) error {
	p := pl.Params
	if p.Receivers < 1 {
		return errors.New("need at least one receiver")
	}
	pl.addPeers(base, role, 1, p.Receivers, false, p.IPv6 > 0)
	r := rand.New(rand.NewPCG(p.Seed, 1))
	var ann announcements
	if p.MRTFile != "" {
		feed, err := loadFeed(pl, role)
		if err != nil {
			return err
		}
		ann = announcements{feedFinal(pl, feed)}
	} else {
		if p.Prefixes < 1 {
			return errors.New("need prefixes or an MRT file")
		}
		ann = fillSynthetic(pl, r, buildPools(pl, r, role), false)
	}
	pl.run = func(ctx context.Context, rn *runner) error { return rn.converge(ctx, ann, true) }
	return nil
}

func planIXP(pl *Plan, base netip.Addr, role targets.Role) error {
	p := pl.Params
	if p.Speakers < 2 || p.Prefixes < 1 {
		return errors.New("need at least two members and one prefix each")
	}
	pl.addPeers(base, role, p.Speakers, 0, true, p.IPv6 > 0)
	r := rand.New(rand.NewPCG(p.Seed, 1))
	ann := fillSynthetic(pl, r, buildPools(pl, r, role), true)
	pl.run = func(ctx context.Context, rn *runner) error { return rn.converge(ctx, ann, true) }
	return nil
}

func planLatency(pl *Plan, base netip.Addr, role targets.Role) error {
	p := pl.Params
	if p.Prefixes < 1 {
		return errors.New("need prefixes")
	}
	pl.addPeers(base, role, 1, 1, false, p.IPv6 > 0)
	r := rand.New(rand.NewPCG(p.Seed, 1))
	ann := fillSynthetic(pl, r, buildPools(pl, r, role), false)
	pl.run = func(ctx context.Context, rn *runner) error {
		rn.res.Headline = "latency"
		recv, spk := rn.receivers(), rn.speakers()
		if err := rn.connect(ctx, append(recv, spk...), 0); err != nil {
			return err
		}
		if err := rn.expect(recv); err != nil {
			return err
		}
		tbl := rn.tables[recv[0]]
		tbl.RecordArrivals()
		buf, err := encodeUpdates(rn.sessions[spk[0]].Options(), ann[0], nil, nil)
		if err != nil {
			return err
		}
		sentAt := make(map[netip.Prefix]time.Time, len(ann[0])) // written by the sender only
		snd, err := rn.sendBuffer(spk[0], buf, p.Rate, func(sp msgSpan, at time.Time) {
			for _, q := range sp.prefixes {
				sentAt[q] = at
			}
		})
		if err != nil {
			return err
		}
		ph := rn.phase(ctx, "latency", recv, rn.env.Now(), len(ann[0]), snd)
		if err := ph.err(); err != nil {
			return err
		}
		var d []time.Duration
		for q, at := range tbl.Arrivals() {
			if s, ok := sentAt[q]; ok {
				d = append(d, at.Sub(s))
			}
		}
		rn.res.Latency = summarizeLatency(d)
		return nil
	}
	return nil
}

// loadFeed reads the plan's MRT file for speaker 0 with the rewrites the role needs.
func loadFeed(pl *Plan, role targets.Role) (*MRTFeed, error) {
	p := pl.Params
	o := MRTOptions{Max: p.MRTMax, SpeakerAS: pl.Peers[0].AS, Prepend: role == targets.RouteServer,
		NextHop4: NextHop4(0), NextHop6: NextHop6(0), IPv6: p.IPv6 > 0, AvoidAS: []uint32{pl.TargetAS}}
	for _, peer := range pl.Peers[1:] {
		o.AvoidAS = append(o.AvoidAS, peer.AS) // the receivers' (speaker 0 prepends its own)
	}
	if p.MRTPeer != "" {
		a, err := netip.ParseAddr(p.MRTPeer)
		if err != nil {
			return nil, fmt.Errorf("mrt peer: %w", err)
		}
		o.Peer = a
	}
	return LoadMRT(p.MRTFile, o)
}

// feedFinal applies every event of feed to speaker 0's RIB and returns the final table as
// announcements (for workloads that send a table, not a stream).
func feedFinal(pl *Plan, feed *MRTFeed) []Announcement {
	pl.model.Speakers = []*SpeakerRIB{{Peer: pl.Peers[0], RIB: make(map[netip.Prefix]*AttrSet)}}
	rib := pl.model.Speakers[0].RIB
	var order []netip.Prefix
	for _, ev := range feed.Events {
		for _, w := range ev.Withdraw {
			delete(rib, w)
		}
		for _, a := range ev.Announce {
			if _, ok := rib[a.Prefix]; !ok {
				order = append(order, a.Prefix)
			}
			rib[a.Prefix] = a.Attrs
		}
	}
	var out []Announcement
	for _, q := range order {
		if a, ok := rib[q]; ok {
			out = append(out, Announcement{Prefix: q, Attrs: a})
			delete(rib, q) // each prefix once, in first-seen order
		}
	}
	for _, a := range out {
		rib[a.Prefix] = a.Attrs
	}
	return out
}

func planReplay(pl *Plan, base netip.Addr, role targets.Role) error {
	p := pl.Params
	if p.MRTFile == "" || p.Receivers < 1 {
		return errors.New("need an MRT file and a receiver")
	}
	pl.addPeers(base, role, 1, p.Receivers, false, p.IPv6 > 0)
	feed, err := loadFeed(pl, role)
	if err != nil {
		return err
	}
	feedFinal(pl, feed) // the model holds the final table: what receivers must end with
	pl.run = func(ctx context.Context, rn *runner) error {
		rn.res.Headline = "replay"
		recv, spk := rn.receivers(), rn.speakers()
		if err := rn.connect(ctx, recv, p.Parallel); err != nil {
			return err
		}
		if err := rn.connect(ctx, spk, 0); err != nil {
			return err
		}
		if err := rn.expect(recv); err != nil {
			return err
		}
		opts := rn.sessions[spk[0]].Options()
		// One buffer per event, concatenated; each event's end offset and due time.
		var buf []byte
		type due struct {
			end int
			at  time.Duration
		}
		var dues []due
		sent := 0
		for _, ev := range feed.Events {
			if buf, err = encodeUpdates(opts, ev.Announce, ev.Withdraw, buf); err != nil {
				return err
			}
			sent += len(ev.Announce) + len(ev.Withdraw)
			at := time.Duration(0)
			if p.Speed > 0 {
				at = time.Duration(float64(ev.At) / p.Speed)
			}
			dues = append(dues, due{end: len(buf), at: at})
		}
		s := rn.sessions[spk[0]]
		snd := func(ctx context.Context) error {
			start, off := time.Now(), 0
			for k := 0; k < len(dues); {
				if wait := time.Until(start.Add(dues[k].at)); wait > time.Millisecond {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				// Everything due by now, in chunks of about 64 KiB.
				end := off
				for k < len(dues) && time.Since(start) >= dues[k].at && dues[k].end-off < 64<<10 {
					end = dues[k].end
					k++
				}
				if end == off {
					end = dues[k].end
					k++
				}
				if err := sendSplit(ctx, s, buf[off:end], 64<<10); err != nil {
					return err
				}
				off = end
			}
			return nil
		}
		return rn.phase(ctx, "replay", recv, rn.env.Now(), sent, snd).err()
	}
	return nil
}
