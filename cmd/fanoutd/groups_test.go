package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/config"
)

// The route-server file's peer group and dynamic-neighbor range reach the server; a speaker
// nobody listed connects from inside the range and gets the group's settings; a range whose
// group has a TCP MD5 password is refused with its key.
func TestDynamicNeighborsFromConfig(t *testing.T) {
	c, err := config.Load("../../testdata/config/route-server.toml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bgp.New(serverConfig(c), bgp.Deps{Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := syncGroups(srv, nil, c); err != nil {
		t.Fatal(err)
	}
	gs, rs := srv.PeerGroups(), srv.DynamicRanges()
	if len(gs) != 1 || gs[0].Name != "new-members" || !gs[0].Template.RSClient || len(rs) != 1 ||
		rs[0].Prefix != netip.MustParsePrefix("192.0.2.128/25") || rs[0].Group != "new-members" {
		t.Fatalf("groups %+v, ranges %+v", gs, rs)
	}
	// Reloaded without the range: it goes, the group stays.
	next := *c
	next.DynamicNeighbors = nil
	if err := syncGroups(srv, c, &next); err != nil || len(srv.DynamicRanges()) != 0 || len(srv.PeerGroups()) != 1 {
		t.Fatalf("after reload: %v, ranges %v", err, srv.DynamicRanges())
	}

	fAddr, sAddr := netip.MustParseAddr("127.1.33.1"), netip.MustParseAddr("127.1.33.70")
	port, err := targets.FreePort(fAddr)
	if err != nil {
		t.Fatal(err)
	}
	api, err := targets.FreePort(fAddr)
	if err != nil {
		t.Fatal(err)
	}
	text := func(auth string) string {
		return fmt.Sprintf(`
[global.config]
  as = 65001
  router-id = "10.0.0.1"
  port = %d
  local-address-list = ["%s"]
[fanout]
  grpc-address = "%s:%d"
  http-address = "127.0.0.1:0"
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "members"
    peer-as = 65070%s
  [peer-groups.route-server.config]
    route-server-client = true
[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = "127.1.33.64/26"
    peer-group = "members"
`, port, fAddr, fAddr, api, auth)
	}
	bad, err := config.LoadBytes([]byte(text("\n    auth-password = \"k\"")), "toml")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := start(bad, zap.NewNop()); err == nil {
		d.stop(context.Background())
		t.Fatal("a dynamic range of a group with a TCP MD5 password was accepted")
	} else if !strings.Contains(err.Error(), "dynamic-neighbors[0]") {
		t.Fatalf("refusal does not name the key: %v", err)
	}
	good, err := config.LoadBytes([]byte(text("")), "toml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := start(good, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sp, err := gen.Dial(ctx, gen.SessionConfig{Name: "dyn", Local: sAddr, Remote: netip.AddrPortFrom(fAddr, port),
		AS: 65070, PeerAS: 65001, Table: gen.NewTable(false, gen.CheckRouteServer)}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dynamic neighbor established", func() bool {
		st, ok := d.srv.Peer(sAddr)
		return ok && st.State == bgp.Established
	})
	if g, ok := d.srv.IsDynamic(sAddr); !ok || g != "members" || !d.srv.Lookup(sAddr).Config().RSClient {
		t.Fatalf("dynamic neighbor %q %v", g, ok)
	}
	sp.Close(true)
	waitFor(t, "the dynamic neighbor removed", func() bool { return d.srv.Lookup(sAddr) == nil })
}
