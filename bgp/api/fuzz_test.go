package api

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "google.golang.org/protobuf/proto"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/sched"
)

// Fuzzing the path-adding API: arbitrary bytes are unmarshalled as the Path of an
// AddPathRequest (what a client, the gobgp CLI or automation can send) and added to the
// global table. Invariants: no panic; a refusal is InvalidArgument (or Unimplemented), never
// an internal error, and leaves the RIB as it was; an accepted path is in the RIB and
// DeletePath removes it. Seeds: testdata/fuzz/FuzzAddPath (regenerate with
// go test -run TestWriteAddPathSeeds ./bgp/api/ -args -write-addpath-seeds).

var writeAddPathSeeds = flag.Bool("write-addpath-seeds", false, "rewrite testdata/fuzz/FuzzAddPath")

// fuzzService is a RIB and the API service on it, without gRPC or sessions: the fuzz
// target calls the methods directly. Cleanup closes everything.
func fuzzService(t testing.TB) *Service {
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	r, err := bgp.NewRIB(rctx, s, zap.NewNop(), bgp.RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bgp.New(bgp.ServerConfig{AS: 65000, RouterID: netip.MustParseAddr("10.255.0.1")}, bgp.Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(srv, r, Deps{Scheduler: s})
	t.Cleanup(func() {
		svc.Stop()
		srv.Close(context.Background())
		rcancel()
		c, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		s.Close(c)
	})
	return svc
}

func FuzzAddPath(f *testing.F) {
	svc := fuzzService(f)
	f.Fuzz(func(t *testing.T, wire []byte) {
		var path apipb.Path
		if pb.Unmarshal(wire, &path) != nil {
			return // not a Path: gRPC refuses it before the service sees it
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cnt := svc.local.Counters()
		// Every input ends with the RIB empty of local paths; a path seen now was applied
		// late by an input that was refused (the RIB applies asynchronously).
		if n := cnt.Received.Load(); n != 0 {
			t.Fatalf("%d local paths before the input: a refused path reached the RIB", n)
		}
		_, err := svc.AddPath(ctx, &apipb.AddPathRequest{TableType: apipb.TableType_GLOBAL, Path: &path})
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.Unimplemented {
				t.Fatalf("refusal with code %v: %v", c, err)
			}
			return
		}
		eventually(t, "the accepted path in the RIB", func() bool { return cnt.Received.Load() == 1 })
		if _, err := svc.DeletePath(ctx, &apipb.DeletePathRequest{TableType: apipb.TableType_GLOBAL}); err != nil {
			t.Fatalf("DeletePath after an accepted path: %v", err)
		}
		eventually(t, "no local path after DeletePath", func() bool { return cnt.Received.Load() == 0 })
	})
}

// addPathSeeds are annotated seeds: valid paths of both families and the refusals the API
// test names, plus attributes a client can add that a peer could not send.
func addPathSeeds(t testing.TB) map[string]*apipb.Path {
	mk := func(prefix string, attrs ...gobgp.PathAttributeInterface) *apipb.Path {
		pfx := netip.MustParsePrefix(prefix)
		var nlri gobgp.AddrPrefixInterface = gobgp.NewIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
		if pfx.Addr().Is6() {
			nlri = gobgp.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
		}
		p, err := apiutil.NewPath(nlri, false, attrs, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	origin := gobgp.NewPathAttributeOrigin(0)
	nh := gobgp.NewPathAttributeNextHop("192.0.2.7")
	mp := func(p string) gobgp.PathAttributeInterface {
		pfx := netip.MustParsePrefix(p)
		return gobgp.NewPathAttributeMpReachNLRI("2001:db8::7", []gobgp.AddrPrefixInterface{gobgp.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())})
	}
	withdraw := mk("10.9.0.0/16", origin, nh)
	withdraw.IsWithdraw = true
	return map[string]*apipb.Path{
		"v4-valid":              mk("10.1.1.0/24", origin, nh, gobgp.NewPathAttributeMultiExitDisc(9)),
		"v4-communities":        mk("10.1.2.0/24", origin, nh, gobgp.NewPathAttributeCommunities([]uint32{65000<<16 | 1, 0xffffff01})),
		"v4-aspath":             mk("10.1.3.0/24", origin, nh, gobgp.NewPathAttributeAsPath([]gobgp.AsPathParamInterface{gobgp.NewAs4PathParam(2, []uint32{65001, 65002})})),
		"v4-bad-origin":         mk("10.7.0.0/16", gobgp.NewPathAttributeOrigin(9), nh),
		"v4-no-next-hop":        mk("10.7.0.0/16", origin),
		"v4-with-mp-reach":      mk("10.7.0.0/16", origin, mp("2001:db8:9::/48")),
		"v4-withdrawal":         withdraw,
		"v4-unknown-attr":       mk("10.1.4.0/24", origin, nh, gobgp.NewPathAttributeUnknown(gobgp.BGP_ATTR_FLAG_OPTIONAL|gobgp.BGP_ATTR_FLAG_TRANSITIVE, 200, []byte("opaque"))),
		"v4-originator":         mk("10.1.5.0/24", origin, nh, gobgp.NewPathAttributeOriginatorId("192.0.2.9")),
		"v6-valid":              mk("2001:db8:99::/48", origin, gobgp.NewPathAttributeLocalPref(200), mp("2001:db8:99::/48")),
		"v6-no-mp-reach":        mk("2001:db8:7::/48", origin),
		"v6-mp-unreach":         mk("2001:db8:7::/48", origin, mp("2001:db8:7::/48"), gobgp.NewPathAttributeMpUnreachNLRI([]gobgp.AddrPrefixInterface{gobgp.NewIPv6AddrPrefix(48, "2001:db8:7::")})),
		"v4-large-communities":  mk("10.1.6.0/24", origin, nh, gobgp.NewPathAttributeLargeCommunities([]*gobgp.LargeCommunity{gobgp.NewLargeCommunity(65000, 1, 2)})),
		"v4-extended-community": mk("10.1.7.0/24", origin, nh, gobgp.NewPathAttributeExtendedCommunities([]gobgp.ExtendedCommunityInterface{gobgp.NewTwoOctetAsSpecificExtended(gobgp.EC_SUBTYPE_ROUTE_TARGET, 65000, 1, true)})),
	}
}

// TestWriteAddPathSeeds writes addPathSeeds as FuzzAddPath's corpus (only with
// -write-addpath-seeds).
func TestWriteAddPathSeeds(t *testing.T) {
	if !*writeAddPathSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAddPath")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, p := range addPathSeeds(t) {
		b, err := pb.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPeerPasswordNeverShown: a neighbor's TCP MD5 password is accepted through the API and
// never shown by ListPeer (RFC 2385 keys are secrets); its GTSM and multihop settings are.
func TestPeerPasswordNeverShown(t *testing.T) {
	f := newFixture(t, 206, Deps{})
	for _, p := range []*apipb.Peer{
		{Conf: &apipb.PeerConf{NeighborAddress: "192.0.2.61", PeerAsn: 65061, AuthPassword: "s3cret-61"}, Transport: &apipb.Transport{PassiveMode: true},
			TtlSecurity: &apipb.TtlSecurity{Enabled: true, TtlMin: 254}},
		{Conf: &apipb.PeerConf{NeighborAddress: "192.0.2.62", PeerAsn: 65062, AuthPassword: "s3cret-62"}, Transport: &apipb.Transport{PassiveMode: true},
			EbgpMultihop: &apipb.EbgpMultihop{Enabled: true, MultihopTtl: 3}},
	} {
		if _, err := f.c.AddPeer(f.ctx, &apipb.AddPeerRequest{Peer: p}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := f.listPeers("")
	if err != nil || len(ps) != 2 {
		t.Fatalf("%d peers, %v", len(ps), err)
	}
	for _, p := range ps {
		if p.Conf.AuthPassword != "" || containsSecret(p) {
			t.Fatalf("ListPeer shows the password: %v", p)
		}
	}
	if ts := ps[0].TtlSecurity; !ts.Enabled || ts.TtlMin != 254 {
		t.Errorf("ttl security %v", ts)
	}
	if mh := ps[1].EbgpMultihop; !mh.Enabled || mh.MultihopTtl != 3 {
		t.Errorf("multihop %v", mh)
	}
	_, err = f.c.AddPeer(f.ctx, &apipb.AddPeerRequest{Peer: &apipb.Peer{Conf: &apipb.PeerConf{NeighborAddress: "192.0.2.63", PeerAsn: 65063},
		TtlSecurity: &apipb.TtlSecurity{Enabled: true}, EbgpMultihop: &apipb.EbgpMultihop{Enabled: true}}})
	wantCode(t, err, codes.InvalidArgument, "exclude")
}

// containsSecret reports whether the marshalled peer carries "s3cret" anywhere.
func containsSecret(p *apipb.Peer) bool {
	b, _ := pb.Marshal(p)
	for i := 0; i+6 <= len(b); i++ {
		if string(b[i:i+6]) == "s3cret" {
			return true
		}
	}
	return false
}
