package bgp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// VPNv4 where the peers negotiated it (RFC 4364): a route learned with an RD and a label is
// reflected to another client with the same RD, label and ORIGINATOR_ID/CLUSTER_LIST, and
// its withdrawal too.
func TestExportVPNv4(t *testing.T) {
	srv, _, _ := exportServer(t, "127.1.60.1")
	fams := []proto.Family{proto.IPv4Unicast, proto.VPNv4}
	vpnCaps := func(c *proto.Capabilities) { c.Multiprotocol = fams }
	raw := func(a string) *rawPeer {
		addPeer(t, srv, PeerConfig{Addr: addr(a), PeerAS: 65000, RRClient: true, Passive: true, Families: fams})
		p := dialRaw(t, a, srv.ListenAddrs()[0], 0)
		p.handshake(65000, a, 0, vpnCaps)
		waitState(t, srv, addr(a), Established)
		return p
	}
	spk, rcv := raw("127.1.60.10"), raw("127.1.60.20")

	opts := proto.SessionOptions{AS4: true}
	var a proto.Attrs
	for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref} {
		a.Present.Set(typ)
	}
	a.LocalPref = 100
	wire, err := proto.AppendAttrs(nil, &a, &opts)
	if err != nil {
		t.Fatal(err)
	}
	rd := proto.RD0(65000, 7)
	n := proto.NLRI{Prefix: netip.MustParsePrefix("10.77.0.0/24"), RD: rd, Labels: proto.Label1(3001)}
	var b proto.UpdateBuilder
	b.Reset(&opts)
	b.Announce(proto.VPNv4, wire, proto.MPNextHop{Addr: addr("198.18.6.1")}, n)
	msg, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	spk.send(msg)

	u := nextUpdate(t, rcv, &opts)
	if !u.Attrs.Present.Has(proto.AttrMPReach) || u.Attrs.MPReach.Family != proto.VPNv4 {
		t.Fatalf("want a VPNv4 announcement, got %+v", u.Attrs.MPReach)
	}
	var got proto.NLRI
	it := u.IterMPReach(&opts)
	if !it.Next(&got) || got.Prefix != n.Prefix || got.RD != rd || got.Labels.N != 1 || got.Labels.Labels[0] != 3001 {
		t.Fatalf("reflected NLRI %+v, want %v RD %v label 3001", got, n.Prefix, rd)
	}
	if u.Attrs.MPReach.NextHop != addr("198.18.6.1") || u.Attrs.OriginatorID != addr("127.1.60.10") || len(u.Attrs.ClusterList) != 4 {
		t.Fatalf("next hop %v originator %v cluster list %v", u.Attrs.MPReach.NextHop, u.Attrs.OriginatorID, u.Attrs.ClusterList)
	}

	b.Reset(&opts)
	b.Withdraw(proto.VPNv4, n)
	msg, err = b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	spk.send(msg)
	u = nextUpdate(t, rcv, &opts)
	it = u.IterMPUnreach(&opts)
	if !u.Attrs.Present.Has(proto.AttrMPUnreach) || !it.Next(&got) || got.Prefix != n.Prefix || got.RD != rd {
		t.Fatalf("want the VPNv4 withdrawal, got %+v", u.Attrs.MPUnreach)
	}
}

// nextUpdate reads r's messages until an UPDATE that is not an End-of-RIB, decoded with
// opts, failing the test after waitLimit.
func nextUpdate(t *testing.T, r *rawPeer, opts *proto.SessionOptions) *proto.Update {
	t.Helper()
	for end := time.Now().Add(waitLimit); time.Now().Before(end); {
		typ, body, err := r.read(time.Until(end))
		if err != nil {
			t.Fatal(err)
		}
		if typ != proto.MsgUpdate {
			continue
		}
		u := &proto.Update{}
		if err := proto.DecodeUpdate(body, opts, u); err != nil {
			t.Fatal(err)
		}
		if _, eor := proto.EndOfRIB(u); !eor {
			return u
		}
	}
	t.Fatal("no UPDATE")
	return nil
}
