package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// apTable is what an ADD-PATH receiver holds for one prefix: path identifier → LOCAL_PREF
// of the path announced under it.
type apTable map[uint32]uint32

func (m apTable) String() string { return fmt.Sprint(map[uint32]uint32(m)) }

// ADD-PATH send (RFC 7911): a receiver that negotiated Receive gets the send-max most
// preferred paths of a prefix, each under its own identifier; a path that changes keeps its
// identifier (implicit replacement, §3); a withdrawn path is withdrawn by identifier and
// the next best takes its place; a peer never gets its own path back; a receiver without
// ADD-PATH gets the best path only.
func TestExportAddPathSend(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.61.1")
	apCaps := func(c *proto.Capabilities) {
		c.AddPath = []proto.AddPathFamily{{Family: proto.IPv4Unicast, Mode: proto.AddPathReceive}}
	}
	raw := func(a string, send uint8, caps func(*proto.Capabilities)) *rawPeer {
		cfg := PeerConfig{Addr: addr(a), PeerAS: 65000, RRClient: true, Passive: true}
		if send > 0 {
			cfg.AddPathSend = []AddPathSend{{Family: proto.IPv4Unicast, Max: send}}
		}
		addPeer(t, srv, cfg)
		p := dialRaw(t, a, srv.ListenAddrs()[0], 0)
		o := p.handshake(65000, a, 0, caps)
		if got, want := o.Caps.AddPathFor(proto.IPv4Unicast)&proto.AddPathSend != 0, send > 0; got != want {
			t.Fatalf("%s: fanout's OPEN announces ADD-PATH send %v, want %v (%+v)", a, got, want, o.Caps.AddPath)
		}
		waitState(t, srv, addr(a), Established)
		return p
	}
	// The last speaker also receives with ADD-PATH: it must never get its own path.
	spk := []*rawPeer{raw("127.1.61.10", 0, nil), raw("127.1.61.11", 0, nil), raw("127.1.61.12", 8, apCaps)}
	rcv := raw("127.1.61.20", 2, apCaps)
	all := raw("127.1.61.21", 8, apCaps)
	plain := raw("127.1.61.22", 0, nil)

	opts := proto.SessionOptions{AS4: true}
	pfx := netip.MustParsePrefix("10.88.0.0/24")
	announce := func(p *rawPeer, lp uint32) {
		t.Helper()
		wire := ibgpWire(t, lp, nil)
		var b proto.UpdateBuilder
		b.Reset(&opts)
		b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: addr("198.18.7.1")}, proto.NLRI{Prefix: pfx})
		msg, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		p.send(msg)
	}
	withdraw := func(p *rawPeer) {
		t.Helper()
		var b proto.UpdateBuilder
		b.Reset(&opts)
		b.Withdraw(proto.IPv4Unicast, proto.NLRI{Prefix: pfx})
		msg, err := b.AppendMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		p.send(msg)
	}
	apOpts := opts
	apOpts.AddPath.Set(proto.IPv4Unicast)
	// follow applies the UPDATEs a receiver gets to its table until it equals want.
	follow := func(what string, p *rawPeer, o *proto.SessionOptions, tab apTable, want ...uint32) {
		t.Helper()
		end := time.Now().Add(waitLimit)
		for !slices.Equal(tab.values(), want) {
			if time.Now().After(end) {
				t.Fatalf("%s: holds %v, want %v", what, tab, want)
			}
			typ, body, err := p.read(time.Until(end))
			if err != nil {
				t.Fatalf("%s: holds %v, want %v: %v", what, tab, want, err)
			}
			if typ != proto.MsgUpdate {
				continue
			}
			var u proto.Update
			if err := proto.DecodeUpdate(body, o, &u); err != nil {
				t.Fatal(err)
			}
			var n proto.NLRI
			for it := u.IterWithdrawn(o); it.Next(&n); {
				if n.Prefix == pfx {
					delete(tab, n.PathID)
				}
			}
			for it := u.IterNLRI(o); it.Next(&n); {
				if n.Prefix == pfx {
					if o.AddPath.Has(proto.IPv4Unicast) && n.PathID == 0 {
						t.Fatalf("%s: path identifier 0", what)
					}
					tab[n.PathID] = u.Attrs.LocalPref
				}
			}
		}
	}
	rcvTab, allTab, plainTab, ownTab := apTable{}, apTable{}, apTable{}, apTable{}

	announce(spk[0], 100)
	announce(spk[1], 200)
	announce(spk[2], 300)
	follow("send-max 2", rcv, &apOpts, rcvTab, 200, 300)
	follow("send-max 8", all, &apOpts, allTab, 100, 200, 300)
	follow("no ADD-PATH", plain, &opts, plainTab, 300)
	follow("own path", spk[2], &apOpts, ownTab, 100, 200)

	// A changed path keeps its identifier.
	ids := map[string]uint32{}
	for what, tab := range map[string]apTable{"rcv": rcvTab, "all": allTab, "own": ownTab} {
		ids[what] = tab.idOf(t, 200)
	}
	announce(spk[1], 250)
	follow("send-max 2 after a change", rcv, &apOpts, rcvTab, 250, 300)
	follow("send-max 8 after a change", all, &apOpts, allTab, 100, 250, 300)
	follow("own path after a change", spk[2], &apOpts, ownTab, 100, 250)
	for what, tab := range map[string]apTable{"rcv": rcvTab, "all": allTab, "own": ownTab} {
		if id := tab.idOf(t, 250); id != ids[what] {
			t.Errorf("%s: the changed path moved from identifier %d to %d", what, ids[what], id)
		}
	}

	// The best path goes: the third best moves in for the send-max 2 receiver.
	withdraw(spk[2])
	follow("send-max 2 after a withdrawal", rcv, &apOpts, rcvTab, 100, 250)
	follow("send-max 8 after a withdrawal", all, &apOpts, allTab, 100, 250)
	follow("no ADD-PATH after a withdrawal", plain, &opts, plainTab, 250)

	// Everything goes.
	withdraw(spk[0])
	withdraw(spk[1])
	follow("send-max 2 at the end", rcv, &apOpts, rcvTab)
	follow("send-max 8 at the end", all, &apOpts, allTab)
	follow("no ADD-PATH at the end", plain, &opts, plainTab)
	follow("own path at the end", spk[2], &apOpts, ownTab)
}

// values returns the LOCAL_PREFs the table holds, sorted (nil when empty).
func (m apTable) values() []uint32 {
	var v []uint32
	for _, lp := range m {
		v = append(v, lp)
	}
	slices.Sort(v)
	return v
}

// idOf returns the identifier of the one path with LOCAL_PREF lp.
func (m apTable) idOf(t testing.TB, lp uint32) uint32 {
	t.Helper()
	for id, v := range m {
		if v == lp {
			return id
		}
	}
	t.Fatalf("no path with LOCAL_PREF %d in %v", lp, m)
	return 0
}
