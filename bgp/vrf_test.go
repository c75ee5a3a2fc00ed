package bgp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
)

// A route added to a VRF (through its local origin, as the API's AddPath does) is exported as VPNv4 (RFC 4364 §4.3.1) with the VRF's
// RD, its export route targets and its label, and reflected to an RR client that negotiated
// VPNv4; withdrawing it from the VRF withdraws the VPN route.
func TestVRFExportToClient(t *testing.T) {
	rd := proto.RD0(65000, 42)
	exportRT := [8]byte{0, 2, 0xfd, 0xe8, 0, 0, 0, 42} // 65000:42
	r, s := newTestRIBWith(t, RIBConfig{LocalAS: 65000, RouterID: addr("10.255.0.1"), Partitions: 4,
		VRFs: []rib.VRFConfig{{Name: "red", RD: rd, ImportRTs: [][8]byte{exportRT}, ExportRTs: [][8]byte{exportRT}, Label: 1042}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr("127.1.61.1")}},
		Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	fams := []proto.Family{proto.IPv4Unicast, proto.VPNv4}
	addPeer(t, srv, PeerConfig{Addr: addr("127.1.61.20"), PeerAS: 65000, RRClient: true, Passive: true, Families: fams})
	rcv := dialRaw(t, "127.1.61.20", srv.ListenAddrs()[0], 0)
	rcv.handshake(65000, "127.1.61.20", 0, func(c *proto.Capabilities) { c.Multiprotocol = fams })
	waitState(t, srv, addr("127.1.61.20"), Established)

	opts := proto.SessionOptions{AS4: true}
	// ORIGIN IGP, an empty AS_PATH, LOCAL_PREF 100 (RFC 4271 §4.3).
	wire := []byte{0x40, proto.AttrOrigin, 1, 0, 0x40, proto.AttrASPath, 0, 0x40, proto.AttrLocalPref, 4, 0, 0, 0, 100}
	nh := addr("198.18.7.1")
	pfx := netip.MustParsePrefix("10.88.0.0/24")
	lo := r.VRFOrigin("red")
	if err := lo.Update(ctx, updateMsgs(t, &opts, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv4Unicast, wire, proto.MPNextHop{Addr: nh}, proto.NLRI{Prefix: pfx})
	})[0]); err != nil {
		t.Fatal(err)
	}

	u := nextUpdate(t, rcv, &opts)
	if !u.Attrs.Present.Has(proto.AttrMPReach) || u.Attrs.MPReach.Family != proto.VPNv4 {
		t.Fatalf("want a VPNv4 announcement, got %+v", u.Attrs.MPReach)
	}
	var got proto.NLRI
	it := u.IterMPReach(&opts)
	if !it.Next(&got) || got.Prefix != pfx || got.RD != rd || got.Labels.N != 1 || got.Labels.Labels[0] != 1042 {
		t.Fatalf("exported NLRI %+v, want %v RD %v label 1042", got, pfx, rd)
	}
	if !strings.Contains(string(u.Attrs.ExtCommunities), string(exportRT[:])) {
		t.Fatalf("extended communities %x lack the export route target %x", u.Attrs.ExtCommunities, exportRT)
	}
	if u.Attrs.MPReach.NextHop != nh {
		t.Fatalf("next hop %v, want %v", u.Attrs.MPReach.NextHop, nh)
	}

	if err := lo.Update(ctx, updateMsgs(t, &opts, func(b *proto.UpdateBuilder) { b.Withdraw(proto.IPv4Unicast, proto.NLRI{Prefix: pfx}) })[0]); err != nil {
		t.Fatal(err)
	}
	u = nextUpdate(t, rcv, &opts)
	it = u.IterMPUnreach(&opts)
	if !u.Attrs.Present.Has(proto.AttrMPUnreach) || !it.Next(&got) || got.Prefix != pfx || got.RD != rd {
		t.Fatalf("want the VPNv4 withdrawal, got %+v", u.Attrs.MPUnreach)
	}
}
