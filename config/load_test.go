package config

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func testdata(name string) string { return filepath.Join("..", "testdata", "config", name) }

func mustLoadFile(t *testing.T, name string) *Config {
	t.Helper()
	c, err := Load(testdata(name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return c
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRouteServerConfig(t *testing.T) {
	c := mustLoadFile(t, "route-server.toml")
	if c.Global.AS != 64512 || c.Global.RouterID != addr("192.0.2.254") || c.Global.Port != 179 {
		t.Errorf("global: %+v", c.Global)
	}
	if want := []netip.Addr{addr("192.0.2.254"), addr("2001:db8:ffff::254")}; !slices.Equal(c.Global.LocalAddresses, want) {
		t.Errorf("local addresses %v, want %v", c.Global.LocalAddresses, want)
	}
	if len(c.Neighbors) != 4 {
		t.Fatalf("%d neighbors, want 4", len(c.Neighbors))
	}
	for _, n := range c.Neighbors {
		if !n.RouteServer.Client || !n.Transport.PassiveMode || n.IBGP(&c.Global) {
			t.Errorf("%s: want a passive eBGP route-server client: %+v", n.Address, n)
		}
	}
	n1, ok := c.Neighbor(addr("192.0.2.1"))
	if !ok {
		t.Fatal("no neighbor 192.0.2.1")
	}
	if n1.PeerAS != 65001 || n1.AuthPassword != "s3cret-65001" || n1.Description != "AS65001 Example Networks" {
		t.Errorf("192.0.2.1: %+v", n1)
	}
	if want := (PrefixLimit{MaxPrefixes: 1000, ShutdownThresholdPct: 90, RestartTimer: 300 * time.Second}); n1.AfiSafis[0].PrefixLimit != want {
		t.Errorf("prefix limit %+v, want %+v", n1.AfiSafis[0].PrefixLimit, want)
	}
	if want := (Timers{HoldTime: 90 * time.Second, KeepaliveInterval: 30 * time.Second, ConnectRetry: 120 * time.Second}); n1.Timers != want {
		t.Errorf("default timers %+v, want %+v", n1.Timers, want)
	}
	n2, _ := c.Neighbor(addr("192.0.2.2"))
	if n2.Timers.HoldTime != 30*time.Second || n2.Timers.KeepaliveInterval != 10*time.Second {
		t.Errorf("192.0.2.2 timers %+v", n2.Timers)
	}
	// Neighbor-level add-paths reach the default family.
	if a, _ := n2.AfiSafi(IPv4Unicast); a.AddPaths != (AddPaths{Receive: true, SendMax: 4}) {
		t.Errorf("192.0.2.2 ipv4-unicast add-paths %+v", a.AddPaths)
	}
	n3, _ := c.Neighbor(addr("2001:db8:ffff::3"))
	if n3.PeerAS != 4200000003 || !n3.GracefulRestart.Enabled || n3.GracefulRestart.RestartTime != 120*time.Second ||
		n3.GracefulRestart.DeferralTime != 360*time.Second {
		t.Errorf("2001:db8:ffff::3: %+v", n3)
	}
	if a, ok := n3.AfiSafi(IPv6Unicast); !ok || !a.MpGracefulRestart || len(n3.AfiSafis) != 1 {
		t.Errorf("2001:db8:ffff::3 afi-safis %+v", n3.AfiSafis)
	}
	if n4, _ := c.Neighbor(addr("192.0.2.4")); !n4.AdminDown {
		t.Error("192.0.2.4 should be admin-down")
	}
	if want := []DynamicNeighbor{{Prefix: netip.MustParsePrefix("192.0.2.128/25"), PeerGroup: "new-members"}}; !reflect.DeepEqual(c.DynamicNeighbors, want) {
		t.Errorf("dynamic neighbors %+v", c.DynamicNeighbors)
	}
	dp, ok := c.DynamicPeer(addr("192.0.2.200"))
	if !ok || dp.PeerAS != 65100 || !dp.Transport.PassiveMode || dp.AfiSafis[0].PrefixLimit.MaxPrefixes != 100 {
		t.Errorf("dynamic peer 192.0.2.200: %v %+v", ok, dp)
	}
	if _, ok := c.DynamicPeer(addr("192.0.2.20")); ok {
		t.Error("192.0.2.20 is outside every dynamic range")
	}
	if len(c.Vrfs) != 0 {
		t.Errorf("vrfs %+v", c.Vrfs)
	}
}

func TestRouteReflectorConfig(t *testing.T) {
	c := mustLoadFile(t, "route-reflector.yaml")
	if c.Global.AS != 65000 || c.Global.RouterID != addr("10.255.0.1") {
		t.Errorf("global %+v", c.Global)
	}
	wantFamilies := []AfiSafiName{IPv4Unicast, IPv6Unicast, L3VPNIPv4Unicast, L3VPNIPv6Unicast}
	for _, a := range []string{"10.255.1.1", "10.255.1.2", "10.255.1.3"} {
		n, ok := c.Neighbor(addr(a))
		if !ok {
			t.Fatalf("no neighbor %s", a)
		}
		if n.PeerAS != 65000 || !n.IBGP(&c.Global) || !n.RouteReflector.Client || n.RouteReflector.ClusterID != addr("10.255.0.1") {
			t.Errorf("%s: want an iBGP client of cluster 10.255.0.1: %+v", a, n)
		}
		var names []AfiSafiName
		for _, f := range n.AfiSafis {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, wantFamilies) {
			t.Errorf("%s families %v, want %v", a, names, wantFamilies)
		}
		if !n.GracefulRestart.Enabled || n.GracefulRestart.RestartTime != n.Timers.HoldTime {
			t.Errorf("%s graceful restart %+v (hold %s)", a, n.GracefulRestart, n.Timers.HoldTime)
		}
	}
	pe1, _ := c.Neighbor(addr("10.255.1.1"))
	pe2, _ := c.Neighbor(addr("10.255.1.2"))
	pe3, _ := c.Neighbor(addr("10.255.1.3"))
	if pe1.Timers.HoldTime != 60*time.Second || pe1.Timers.KeepaliveInterval != 20*time.Second {
		t.Errorf("pe1 timers %+v (from the group)", pe1.Timers)
	}
	if pe2.Timers.HoldTime != 30*time.Second || pe2.Timers.KeepaliveInterval != 10*time.Second {
		t.Errorf("pe2 timers %+v (own hold-time, keepalive a third of it)", pe2.Timers)
	}
	if pe1.Description != "pe1.pop1" || pe3.Transport.LocalAddress != addr("10.255.0.1") || pe3.AfiSafis[2].AddPaths.SendMax != 2 {
		t.Errorf("pe1/pe3 own keys: %+v %+v", pe1, pe3)
	}
	rr2, _ := c.Neighbor(addr("10.255.0.2"))
	if rr2.RouteReflector.Client || rr2.PeerGroup != "" || len(rr2.AfiSafis) != 2 {
		t.Errorf("rr2 %+v", rr2)
	}
	if len(c.Vrfs) != 2 {
		t.Fatalf("vrfs %+v", c.Vrfs)
	}
	blue, red := c.Vrfs[0], c.Vrfs[1]
	if blue.Name != "blue" || blue.ID != 1 || blue.RD.String() != "65000:100" ||
		list(blue.ImportRTs) != "[65000:100]" || list(blue.ExportRTs) != "[65000:100]" {
		t.Errorf("blue %+v", blue)
	}
	if red.Name != "red" || red.ID != 7 || red.RD.String() != "10.255.0.1:200" ||
		list(red.ImportRTs) != "[65000:200, 65000:201]" || list(red.ExportRTs) != "[65000:200]" {
		t.Errorf("red %+v", red)
	}
}

// TestFormatsAgree writes each test file in the two other formats and expects the same Config.
func TestFormatsAgree(t *testing.T) {
	for _, name := range []string{"route-server.toml", "route-reflector.yaml", "all-keys.toml"} {
		want := mustLoadFile(t, name)
		format := strings.TrimPrefix(filepath.Ext(name), ".")
		data, err := os.ReadFile(testdata(name))
		if err != nil {
			t.Fatal(err)
		}
		tree, err := parse(data, format)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		ym, err := yaml.Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		for f, text := range map[string][]byte{"json": js, "yaml": ym} {
			got, err := load(text, f, name+" as "+f, nil)
			if err != nil {
				t.Fatalf("%s as %s: %v", name, f, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s as %s differs:\n%s", name, f, Diff(want, got))
			}
		}
	}
}

func TestDefault(t *testing.T) {
	got, err := load([]byte(DefaultTOML), "toml", "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if !reflect.DeepEqual(got, d) {
		t.Errorf("Default() and DefaultTOML differ:\n%s", Diff(d, got))
	}
	if d.Global.Port < 1024 || !d.Global.RouterID.IsLoopback() || len(d.Neighbors) != 0 || len(d.DynamicNeighbors) != 0 {
		t.Errorf("the default must run on loopback without root and accept no peer: %+v", d)
	}
	for _, a := range d.Global.LocalAddresses {
		if !a.IsLoopback() {
			t.Errorf("default listens on %s", a)
		}
	}
	if !d.Fanout.HTTPAddress.Addr().IsLoopback() || !d.Fanout.GRPCAddress.Addr().IsLoopback() {
		t.Errorf("default listeners %s %s", d.Fanout.HTTPAddress, d.Fanout.GRPCAddress)
	}
	if d.Fanout.Partitions != runtime.NumCPU() || d.Fanout.GRPCAddress.Port() != 50051 || d.Fanout.HTTPAddress.Port() != 9179 {
		t.Errorf("fanout defaults %+v", d.Fanout)
	}
}

func TestLoadDefaultTakesEnv(t *testing.T) {
	t.Setenv("FANOUT_GLOBAL_CONFIG_PORT", "1791")
	t.Setenv("FANOUT_FANOUT_LOG_LEVEL", "debug")
	c, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.Port != 1791 || c.Fanout.LogLevel != "debug" || c.Global.AS != 65000 {
		t.Errorf("env not applied to the default: %+v %+v", c.Global, c.Fanout)
	}
}

func TestFanoutTable(t *testing.T) {
	c, err := LoadBytes([]byte(`
[global.config]
  as = 65000
  router-id = "192.0.2.1"
[fanout]
  partitions = 16
  workers = 3
  http-address = "[::1]:0"
  grpc-address = "127.0.0.1:50052"
  route-reconcile-interval = "5m"
  log-level = "WARN"
  memory-limit = "512MiB"
  memory-ceiling = "2GiB"
  [fanout.sync]
    max-concurrent-walks = 2
    max-start-delay = 0.25
  [fanout.admission]
    per-source-burst = 8
    per-source-interval = "1s"
    max-unestablished = 100
`), "toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Fanout{
		Partitions: 16, Workers: 3,
		HTTPAddress:            netip.MustParseAddrPort("[::1]:0"),
		GRPCAddress:            netip.MustParseAddrPort("127.0.0.1:50052"),
		RouteReconcileInterval: 5 * time.Minute,
		Sync:                   Sync{MaxConcurrentWalks: 2, MaxStartDelay: 250 * time.Millisecond},
		LogLevel:               "warn",
		MemoryLimit:            512 << 20,
		MemoryCeiling:          2 << 30,
		Admission:              Admission{PerSourceBurst: 8, PerSourceInterval: time.Second, MaxUnestablished: 100},
	}
	if c.Fanout != want {
		t.Errorf("fanout %+v, want %+v", c.Fanout, want)
	}
	c, err = LoadBytes([]byte("global:\n  config: {as: 1, router-id: 192.0.2.1}\nfanout:\n  route-reconcile-interval: 0\n  memory-limit: 1048576\n"), "yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Fanout.RouteReconcileInterval != 0 || c.Fanout.MemoryLimit != 1<<20 {
		t.Errorf("0 must disable reconciliation: %+v", c.Fanout)
	}
}

const inheritance = `
[global.config]
  as = 65000
  router-id = "192.0.2.1"
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "g"
    peer-as = 65010
    description = "group"
  [peer-groups.timers.config]
    hold-time = 60
  [peer-groups.add-paths.config]
    receive = true
  [peer-groups.graceful-restart.config]
    enabled = true
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [peer-groups.afi-safis.add-paths.config]
      receive = false
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.10"
    peer-group = "g"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.11"
    peer-group = "g"
    peer-as = 65011
    description = "own"
  [neighbors.timers.config]
    hold-time = 9
  [neighbors.graceful-restart.config]
    enabled = false
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::12"
    peer-group = "g"
  [neighbors.timers.config]
    keepalive-interval = 5
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`

func TestPeerGroupInheritance(t *testing.T) {
	c, err := LoadBytes([]byte(inheritance), "toml")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.Neighbor(addr("192.0.2.10"))
	b, _ := c.Neighbor(addr("192.0.2.11"))
	v6, _ := c.Neighbor(addr("2001:db8::12"))
	// All from the group.
	if a.PeerAS != 65010 || a.Description != "group" || a.Timers.HoldTime != 60*time.Second ||
		a.Timers.KeepaliveInterval != 20*time.Second || !a.GracefulRestart.Enabled || a.GracefulRestart.RestartTime != 60*time.Second {
		t.Errorf("member with no overrides: %+v", a)
	}
	// The group's afi-safi sets receive = false itself, so the neighbor-level true does not
	// reach it (gobgpd loses that distinction for inherited lists; fanout keeps it).
	if len(a.AfiSafis) != 1 || a.AfiSafis[0].AddPaths.Receive || !a.AddPaths.Receive {
		t.Errorf("member afi-safis %+v add-paths %+v", a.AfiSafis, a.AddPaths)
	}
	// Own values win; derived defaults follow the effective values.
	if b.PeerAS != 65011 || b.Description != "own" || b.Timers.HoldTime != 9*time.Second ||
		b.Timers.KeepaliveInterval != 3*time.Second || b.GracefulRestart.Enabled || b.GracefulRestart.RestartTime != 0 {
		t.Errorf("member with overrides: %+v", b)
	}
	// Own afi-safis replace the group's list; keepalive set with the group's hold time.
	if len(v6.AfiSafis) != 1 || v6.AfiSafis[0].Name != IPv6Unicast || !v6.AfiSafis[0].AddPaths.Receive ||
		v6.Timers.HoldTime != 60*time.Second || v6.Timers.KeepaliveInterval != 5*time.Second {
		t.Errorf("member with own afi-safis: %+v", v6)
	}
	// The group itself, with defaults.
	g, ok := c.PeerGroup("g")
	if !ok || g.Timers.KeepaliveInterval != 20*time.Second || g.Timers.ConnectRetry != 120*time.Second || len(g.AfiSafis) != 1 {
		t.Errorf("group %+v", g)
	}
	// Members do not share the group's slices.
	a.AfiSafis[0].Enabled = false
	if g.AfiSafis[0].Enabled != true {
		t.Error("a member's afi-safis alias its group's")
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"FANOUT_GLOBAL_CONFIG_AS":                          "65099",
		"FANOUT_GLOBAL_CONFIG_LOCAL_ADDRESS_LIST":          "127.0.0.1, ::1",
		"FANOUT_NEIGHBORS_1_CONFIG_AUTH_PASSWORD":          "from-env",
		"FANOUT_NEIGHBORS_0_TIMERS_CONFIG_HOLD_TIME":       "15",
		"FANOUT_NEIGHBORS_2_TRANSPORT_CONFIG_PASSIVE_MODE": "false",
		"FANOUT_PEER_GROUPS_0_CONFIG_PEER_AS":              "65020",
		"FANOUT_FANOUT_WORKERS":                            "3",
		"FANOUT_FANOUT_SYNC_MAX_START_DELAY":               "1s",
		"FANOUT_UNRELATED":                                 "left alone",
	}
	c, err := load([]byte(inheritance+"[neighbors.transport.config]\npassive-mode = true\n"), "toml", "", env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.AS != 65099 || !slices.Equal(c.Global.LocalAddresses, []netip.Addr{addr("127.0.0.1"), addr("::1")}) {
		t.Errorf("global %+v", c.Global)
	}
	if c.Neighbors[1].AuthPassword != "from-env" || c.Neighbors[0].Timers.HoldTime != 15*time.Second ||
		c.Neighbors[0].Timers.KeepaliveInterval != 5*time.Second {
		t.Errorf("neighbors %+v %+v", c.Neighbors[0], c.Neighbors[1])
	}
	if c.Neighbors[2].Transport.PassiveMode {
		t.Error("env did not override the file's passive-mode of neighbors[2]")
	}
	if c.Neighbors[0].PeerAS != 65020 || c.Neighbors[1].PeerAS != 65011 {
		t.Errorf("group peer-as from env: %d %d", c.Neighbors[0].PeerAS, c.Neighbors[1].PeerAS)
	}
	if c.Fanout.Workers != 3 || c.Fanout.Sync.MaxStartDelay != time.Second {
		t.Errorf("fanout %+v", c.Fanout)
	}
}

func TestEnvThroughLoad(t *testing.T) {
	t.Setenv("FANOUT_GLOBAL_CONFIG_AS", "65111")
	t.Setenv("FANOUT_FANOUT_WORKERS", "5")
	c := mustLoadFile(t, "route-server.toml")
	if c.Global.AS != 65111 || c.Fanout.Workers != 5 {
		t.Errorf("env overrides through Load: %d %d", c.Global.AS, c.Fanout.Workers)
	}
}

func TestEnvErrors(t *testing.T) {
	env := map[string]string{
		"FANOUT_GLOBAL_CONFIG_ROUTER_ID":         "not-an-ip",
		"FANOUT_GLOBAL_CONFIG_ASN":               "1",
		"FANOUT_NEIGHBORS_7_CONFIG_PEER_AS":      "1",
		"FANOUT_FANOUT_ROUTE_RECONCILE_INTERVAL": "-5s",
		"FANOUT_SOMETHING_ELSE":                  "ignored",
	}
	_, err := load([]byte("[global.config]\nas = 1\nrouter-id = \"192.0.2.1\"\n"), "toml", "f.toml", env)
	want := []string{
		`f.toml: global.config.router-id: "not-an-ip" is not an IP address (from $FANOUT_GLOBAL_CONFIG_ROUTER_ID)`,
		`f.toml: fanout.route-reconcile-interval: "-5s" is negative (from $FANOUT_FANOUT_ROUTE_RECONCILE_INTERVAL)`,
		`f.toml: $FANOUT_GLOBAL_CONFIG_ASN: matches no configuration key (or names a list entry the file does not have) (from $FANOUT_GLOBAL_CONFIG_ASN)`,
		`f.toml: $FANOUT_NEIGHBORS_7_CONFIG_PEER_AS: matches no configuration key (or names a list entry the file does not have) (from $FANOUT_NEIGHBORS_7_CONFIG_PEER_AS)`,
	}
	if got := errLines(err); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func errLines(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

func TestErrorLines(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, text string
		want       []string
	}{
		{"bad.toml", `[global.config]
  as = 65000
  router-id = "192.0.2.1"

[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 65002

[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.3"
    peer-as = 0
  [neighbors.timers.config]
    hold-time = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-flowspec"
      colour = "blue"
`, []string{
			"13: neighbors[1].config.peer-as: 0 is not a valid AS number (1 to 4294967295)",
			"15: neighbors[1].timers.config.hold-time: 2 is not allowed: the hold time is 0 or at least 3 seconds (RFC 4271 4.2)",
			`21: neighbors[1].afi-safis[1].config.afi-safi-name: "ipv4-flowspec" is not supported by fanout (supported: ipv4-unicast, ipv6-unicast, l3vpn-ipv4-unicast, l3vpn-ipv6-unicast)`,
			"22: neighbors[1].afi-safis[1].config.colour: unknown key",
		}},
		{"bad.yaml", `global:
  config:
    as: 65000
    router-id: 192.0.2.1
neighbors:
  - config:
      neighbor-address: 192.0.2.2
      peer-as: 65002
  - config:
      neighbor-address: 192.0.2.2
      peer-as: 65003
    timers:
      config:
        hold-time: 30
        keepalive-interval: 40
`, []string{
			`10: neighbors[1].config.neighbor-address: "192.0.2.2" is already configured as neighbors[0]`,
			"15: neighbors[1].timers.config.keepalive-interval: 40s is more than hold-time 30s",
		}},
		{"bad.json", `{
  "global": {"config": {"as": 65000, "router-id": "192.0.2.1"}},
  "vrfs": [
    {"config": {"name": "a", "rd": "65000:1"}},
    {"config": {
        "name": "b",
        "rd": "65000"
    }}
  ],
  "Fanout": {"workers": 0}
}
`, []string{
			`7: vrfs[1].config.rd: "65000" is not a route distinguisher (write it like 65000:100, 192.0.2.1:100 or 4200000000:100)`,
			"10: fanout.workers: 0 is out of range (1 to 1024)",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			var want []string
			for _, w := range tc.want {
				want = append(want, path+":"+w)
			}
			if got := errLines(err); !slices.Equal(got, want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var ke *KeyError
			if !errors.As(err, &ke) || ke.File != path || ke.Line == 0 {
				t.Errorf("errors.As: %+v", ke)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ text, format string }{
		{"[global.config\nas = 1", "toml"},
		{"global: [", "yaml"},
		{`{"global": `, "json"},
		{"- a\n- b\n", "yaml"},
	} {
		if _, err := LoadBytes([]byte(tc.text), tc.format); err == nil {
			t.Errorf("%s %q loads", tc.format, tc.text)
		}
	}
	if _, err := LoadBytes([]byte("{}"), "ini"); err == nil || !strings.Contains(err.Error(), `unknown format "ini"`) {
		t.Errorf("format ini: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("a missing file loads")
	}
}

// BenchmarkLoad reads a route-server config with 1000 neighbors.
func BenchmarkLoad(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(base)
	for i := 0; i < 1000; i++ {
		sb.WriteString(nb(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String(), "65001",
			"[neighbors.transport.config]", "passive-mode = true", "[neighbors.route-server.config]", "route-server-client = true"))
	}
	data := []byte(sb.String())
	env := map[string]string{"FANOUT_FANOUT_WORKERS": "2"}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := load(data, "toml", "", env); err != nil {
			b.Fatal(err)
		}
	}
}
