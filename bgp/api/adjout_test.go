package api

import (
	"net/netip"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc/codes"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
)

// Adj-RIB-Out: what fanout advertises to a second (external) peer, with the local AS
// prepended and its own next hop; nothing back to the peer the routes came from; the
// advertised counts per family from the RibOuts.
func TestListPathAdjOut(t *testing.T) {
	f := newFixture(t, 81, Deps{})
	f.connectSpeaker(12)
	rcv := netip.AddrFrom4([4]byte{127, 1, 81, 20})
	if err := f.srv.AddPeer(bgp.PeerConfig{Addr: rcv, PeerAS: 65030, Passive: true,
		Families: []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}}); err != nil {
		t.Fatal(err)
	}
	tbl := gen.NewTable(true, gen.CheckRouteServer)
	other, err := gen.Dial(f.ctx, gen.SessionConfig{Name: "receiver", Local: rcv, Remote: f.srv.ListenAddrs()[0],
		AS: 65030, PeerAS: 65000, IPv6: true, Table: tbl}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(true)
	eventually(t, "the receiver's routes", func() bool { return tbl.Stats().Held == 24 })

	ds, err := f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_OUT, Name: rcv.String(), Family: ipv4UC})
	if err != nil || len(ds) != 12 || ds[0].Prefix != "10.1.0.0/24" || ds[11].Prefix != "10.1.11.0/24" {
		t.Fatalf("adj-out: %s %v", prefixes(ds), err)
	}
	p := ds[4].Paths[0]
	if got := describe(t, p); p.Best || got != "origin 0, aspath 65000 65010 65020, nh 127.1.81.1" || p.NeighborIp != f.peer.String() {
		t.Fatalf("adj-out path %q best %v from %s", got, p.Best, p.NeighborIp)
	}
	ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_OUT, Name: rcv.String(), Family: ipv6UC,
		Prefixes: []*apipb.TableLookupPrefix{{Prefix: "2001:db8:3::/48"}}})
	if err != nil || prefixes(ds) != "2001:db8:3::/48" {
		t.Fatalf("adj-out ipv6 lookup: %s %v", prefixes(ds), err)
	}
	// Split horizon: the source is advertised nothing back.
	ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_OUT, Name: f.peer.String(), Family: ipv4UC})
	if err != nil || len(ds) != 0 {
		t.Fatalf("adj-out of the source: %s %v", prefixes(ds), err)
	}
	_, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_OUT, Name: "127.1.81.99", Family: ipv4UC})
	wantCode(t, err, codes.NotFound, "127.1.81.99")

	// Advertised counts: per family, only when asked for (as `gobgp neighbor <addr>` does).
	st, err := f.c.ListPeer(f.ctx, &apipb.ListPeerRequest{Address: rcv.String(), EnableAdvertised: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peer.AfiSafis) != 2 || r.Peer.AfiSafis[0].State.Advertised != 12 || r.Peer.AfiSafis[1].State.Advertised != 12 {
		t.Fatalf("advertised: %v", r.Peer.AfiSafis)
	}
	ps, err := f.listPeers("")
	if err != nil || len(ps) != 2 || ps[1].AfiSafis[0].State.Advertised != 0 {
		t.Fatalf("without EnableAdvertised: %v %v", ps, err)
	}
	// The receiver leaves: its Adj-RIB-Out is empty.
	other.Close(true)
	eventually(t, "the receiver's session down", func() bool {
		s, _ := f.srv.Peer(rcv)
		return s.State != bgp.Established
	})
	ds, err = f.listPath(&apipb.ListPathRequest{TableType: apipb.TableType_ADJ_OUT, Name: rcv.String(), Family: ipv4UC})
	if err != nil || len(ds) != 0 {
		t.Fatalf("adj-out after the session went: %s %v", prefixes(ds), err)
	}
}
