package bgp

import (
	"errors"
	"net/netip"
	"testing"

	"go.uber.org/zap"
)

// A connection from an address inside a dynamic-neighbor range creates a passive peer with
// the range's peer-group settings; the peer goes when its session ends. Addresses outside
// every range are refused, and groups and ranges are checked when added.
func TestDynamicNeighbor(t *testing.T) {
	srv := startServer(t, ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr("127.3.41.1")},
		Admission: AdmissionConfig{PerSourceBurst: -1}}, Deps{Logger: zap.NewNop()})
	if err := srv.AddDynamicRange(DynamicRange{Prefix: netip.MustParsePrefix("127.3.41.0/28"), Group: "members"}); !errors.Is(err, ErrNoPeerGroup) {
		t.Fatalf("range of a missing group: %v", err)
	}
	if err := srv.AddPeerGroup(PeerGroup{Name: "members", Template: PeerConfig{PeerAS: 65100, RSClient: true}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddPeerGroup(PeerGroup{Name: "members", Template: PeerConfig{PeerAS: 65100}}); !errors.Is(err, ErrPeerGroupExists) {
		t.Fatalf("second group of one name: %v", err)
	}
	if err := srv.AddPeerGroup(PeerGroup{Name: "bad"}); err == nil {
		t.Fatal("a group without peer AS was accepted")
	}
	if err := srv.AddDynamicRange(DynamicRange{Prefix: netip.MustParsePrefix("127.3.41.0/28"), Group: "members"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeletePeerGroup("members"); !errors.Is(err, ErrPeerGroupInUse) {
		t.Fatalf("deleting a group in use: %v", err)
	}

	r := dialRaw(t, "127.3.41.10", srv.ListenAddrs()[0], 0)
	r.handshake(65100, "127.3.41.10", 0, nil)
	waitState(t, srv, addr("127.3.41.10"), Established)
	p := srv.Lookup(addr("127.3.41.10"))
	if p == nil || !p.Config().Passive || !p.Config().RSClient || p.Config().PeerAS != 65100 {
		t.Fatalf("dynamic peer %+v", p)
	}
	if g, ok := srv.IsDynamic(addr("127.3.41.10")); !ok || g != "members" {
		t.Fatalf("IsDynamic %q %v", g, ok)
	}
	r.nc.Close()
	eventually(t, "the dynamic peer removed", func() bool { return srv.Lookup(addr("127.3.41.10")) == nil })
	if _, ok := srv.IsDynamic(addr("127.3.41.10")); ok {
		t.Fatal("a removed dynamic peer is still listed")
	}

	// Outside every range: closed, no peer.
	out := dialRaw(t, "127.3.41.20", srv.ListenAddrs()[0], 0)
	if _, _, err := out.read(5e9); err == nil {
		t.Fatal("a connection from outside the range was read from")
	}
	if srv.Lookup(addr("127.3.41.20")) != nil {
		t.Fatal("a peer was made for an address outside the range")
	}
	if err := srv.DeleteDynamicRange(netip.MustParsePrefix("127.3.41.0/28")); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeletePeerGroup("members"); err != nil {
		t.Fatal(err)
	}
	if len(srv.PeerGroups()) != 0 || len(srv.DynamicRanges()) != 0 {
		t.Fatal("groups or ranges left")
	}
}
