package config

// gobgpd's own config package is the oracle here, and only here: the same files must mean
// the same thing to fanout and to gobgpd for every key fanout supports.

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/config/oc"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/spf13/viper"
)

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func readOracle(t *testing.T, path, format string) *oc.BgpConfigSet {
	t.Helper()
	want, err := oc.ReadConfigfile(path, format)
	if err != nil {
		t.Fatalf("gobgpd cannot read %s: %v", path, err)
	}
	return want
}

func TestSameAsGobgpd(t *testing.T) {
	for _, tc := range []struct{ file, format string }{
		{"route-server.toml", "toml"},
		{"route-reflector.yaml", "yaml"},
		{"all-keys.toml", "toml"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "config", tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := load(data, tc.format, path, nil)
			if err != nil {
				t.Fatalf("fanout cannot read %s: %v", path, err)
			}
			want := readOracle(t, path, tc.format)
			compareWithGobgpd(t, got, want)
		})
	}
}

func compareWithGobgpd(t *testing.T, got *Config, want *oc.BgpConfigSet) {
	t.Helper()
	eq := func(what string, g, w any) {
		t.Helper()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: fanout %v, gobgpd %v", what, g, w)
		}
	}
	wg := want.Global.Config
	eq("global.as", got.Global.AS, wg.As)
	eq("global.router-id", got.Global.RouterID.String(), wg.RouterId)
	eq("global.port", got.Global.Port, int(wg.Port))
	eq("global.local-address-list", list(got.Global.LocalAddresses), list(wg.LocalAddressList))

	if len(got.Neighbors) != len(want.Neighbors) {
		t.Fatalf("%d neighbors, gobgpd has %d", len(got.Neighbors), len(want.Neighbors))
	}
	for i, n := range got.Neighbors {
		w := want.Neighbors[i]
		p := "neighbors[" + n.Address.String() + "]."
		eq(p+"neighbor-address", n.Address.String(), w.State.NeighborAddress)
		eq(p+"peer-group", n.PeerGroup, w.Config.PeerGroup)
		eq(p+"admin-down", n.AdminDown, w.Config.AdminDown)
		eq(p+"vrf", n.Vrf, w.Config.Vrf)
		compareSettings(t, eq, p, &n.PeerSettings, &w)
	}

	if len(got.PeerGroups) != len(want.PeerGroups) {
		t.Fatalf("%d peer groups, gobgpd has %d", len(got.PeerGroups), len(want.PeerGroups))
	}
	for i, g := range got.PeerGroups {
		w := want.PeerGroups[i]
		p := "peer-groups[" + g.Name + "]."
		// gobgpd applies no defaults to a peer group: compare what the file sets.
		eq(p+"name", g.Name, w.Config.PeerGroupName)
		eq(p+"peer-as", g.PeerAS, w.Config.PeerAs)
		eq(p+"description", g.Description, w.Config.Description)
		eq(p+"auth-password", g.AuthPassword, w.Config.AuthPassword)
		eq(p+"passive-mode", g.Transport.PassiveMode, w.Transport.Config.PassiveMode)
		eq(p+"route-server-client", g.RouteServer.Client, w.RouteServer.Config.RouteServerClient)
		eq(p+"route-reflector-client", g.RouteReflector.Client, w.RouteReflector.Config.RouteReflectorClient)
		eq(p+"graceful-restart.enabled", g.GracefulRestart.Enabled, w.GracefulRestart.Config.Enabled)
		var names []string
		for _, a := range w.AfiSafis {
			names = append(names, string(a.Config.AfiSafiName))
		}
		eq(p+"afi-safis", list(afiNames(g.AfiSafis)), list(names))
		for j, a := range g.AfiSafis {
			eq(p+"max-prefixes", a.PrefixLimit.MaxPrefixes, w.AfiSafis[j].PrefixLimit.Config.MaxPrefixes)
		}
	}

	if len(got.DynamicNeighbors) != len(want.DynamicNeighbors) {
		t.Fatalf("%d dynamic neighbors, gobgpd has %d", len(got.DynamicNeighbors), len(want.DynamicNeighbors))
	}
	for i, d := range got.DynamicNeighbors {
		w := want.DynamicNeighbors[i]
		eq("dynamic-neighbors.prefix", d.Prefix.String(), w.Config.Prefix)
		eq("dynamic-neighbors.peer-group", d.PeerGroup, w.Config.PeerGroup)
	}

	if len(got.Vrfs) != len(want.Vrfs) {
		t.Fatalf("%d vrfs, gobgpd has %d", len(got.Vrfs), len(want.Vrfs))
	}
	for i, v := range got.Vrfs {
		w := want.Vrfs[i]
		p := "vrfs[" + v.Name + "]."
		eq(p+"name", v.Name, w.Config.Name)
		eq(p+"id", v.ID, w.Config.Id)
		rd, err := bgp.ParseRouteDistinguisher(w.Config.Rd)
		if err != nil {
			t.Fatal(err)
		}
		wire, _ := rd.Serialize()
		eq(p+"rd", v.RD[:], wire)
		eq(p+"import-rt-list", rtWire(t, v.ImportRTs), gobgpRTs(t, w.Config.ImportRtList))
		eq(p+"export-rt-list", rtWire(t, v.ExportRTs), gobgpRTs(t, w.Config.ExportRtList))
	}
}

func compareSettings(t *testing.T, eq func(string, any, any), p string, s *PeerSettings, w *oc.Neighbor) {
	t.Helper()
	eq(p+"peer-as", s.PeerAS, w.Config.PeerAs)
	eq(p+"description", s.Description, w.Config.Description)
	eq(p+"auth-password", s.AuthPassword, w.Config.AuthPassword)
	eq(p+"hold-time", s.Timers.HoldTime, secs(w.Timers.Config.HoldTime))
	eq(p+"keepalive-interval", s.Timers.KeepaliveInterval, secs(w.Timers.Config.KeepaliveInterval))
	eq(p+"connect-retry", s.Timers.ConnectRetry, secs(w.Timers.Config.ConnectRetry))
	local := w.Transport.Config.LocalAddress
	if local == "0.0.0.0" || local == "::" {
		local = "invalid IP" // gobgpd's "any" is fanout's zero Addr
	}
	eq(p+"local-address", s.Transport.LocalAddress.String(), local)
	eq(p+"passive-mode", s.Transport.PassiveMode, w.Transport.Config.PassiveMode)
	remote := w.Transport.Config.RemotePort
	if remote == 0 {
		remote = 179 // gobgpd dials 179 when the port is 0
	}
	eq(p+"remote-port", s.Transport.RemotePort, remote)
	eq(p+"add-paths.receive", s.AddPaths.Receive, w.AddPaths.Config.Receive)
	eq(p+"add-paths.send-max", s.AddPaths.SendMax, w.AddPaths.Config.SendMax)
	eq(p+"route-reflector-client", s.RouteReflector.Client, w.RouteReflector.Config.RouteReflectorClient)
	if s.RouteReflector.Client {
		eq(p+"cluster-id", s.RouteReflector.ClusterID.String(), string(w.RouteReflector.State.RouteReflectorClusterId))
	}
	eq(p+"route-server-client", s.RouteServer.Client, w.RouteServer.Config.RouteServerClient)
	gr := w.GracefulRestart.Config
	eq(p+"gr.enabled", s.GracefulRestart.Enabled, gr.Enabled)
	eq(p+"gr.restart-time", s.GracefulRestart.RestartTime, time.Duration(gr.RestartTime)*time.Second)
	eq(p+"gr.helper-only", s.GracefulRestart.HelperOnly, gr.HelperOnly)
	eq(p+"gr.deferral-time", s.GracefulRestart.DeferralTime, time.Duration(gr.DeferralTime)*time.Second)
	eq(p+"gr.notification-enabled", s.GracefulRestart.NotificationEnabled, gr.NotificationEnabled)
	eq(p+"gr.long-lived-enabled", s.GracefulRestart.LongLivedEnabled, gr.LongLivedEnabled)
	eq(p+"ebgp-multihop.enabled", s.EbgpMultihop.Enabled, w.EbgpMultihop.Config.Enabled)
	eq(p+"ebgp-multihop.multihop-ttl", s.EbgpMultihop.MultihopTTL, w.EbgpMultihop.Config.MultihopTtl)
	eq(p+"ttl-security.enabled", s.TTLSecurity.Enabled, w.TtlSecurity.Config.Enabled)
	eq(p+"ttl-security.ttl-min", s.TTLSecurity.TTLMin, w.TtlSecurity.Config.TtlMin)
	if len(s.AfiSafis) != len(w.AfiSafis) {
		t.Errorf("%safi-safis: fanout %v, gobgpd has %d", p, afiNames(s.AfiSafis), len(w.AfiSafis))
		return
	}
	for j, a := range s.AfiSafis {
		wa := w.AfiSafis[j]
		q := p + "afi-safis[" + string(a.Name) + "]."
		eq(q+"name", string(a.Name), string(wa.Config.AfiSafiName))
		eq(q+"enabled", a.Enabled, wa.Config.Enabled)
		eq(q+"max-prefixes", a.PrefixLimit.MaxPrefixes, wa.PrefixLimit.Config.MaxPrefixes)
		eq(q+"shutdown-threshold-pct", a.PrefixLimit.ShutdownThresholdPct, uint8(wa.PrefixLimit.Config.ShutdownThresholdPct))
		eq(q+"restart-timer", a.PrefixLimit.RestartTimer, secs(wa.PrefixLimit.Config.RestartTimer))
		eq(q+"add-paths.receive", a.AddPaths.Receive, wa.AddPaths.Config.Receive)
		eq(q+"add-paths.send-max", a.AddPaths.SendMax, wa.AddPaths.Config.SendMax)
		eq(q+"mp-graceful-restart", a.MpGracefulRestart, wa.MpGracefulRestart.Config.Enabled)
		eq(q+"llgr.enabled", a.LongLivedGracefulRestart.Enabled, wa.LongLivedGracefulRestart.Config.Enabled)
		eq(q+"llgr.restart-time", a.LongLivedGracefulRestart.RestartTime, time.Duration(wa.LongLivedGracefulRestart.Config.RestartTime)*time.Second)
	}
}

func afiNames(as []AfiSafi) []string {
	var out []string
	for _, a := range as {
		out = append(out, string(a.Name))
	}
	return out
}

func rtWire(t *testing.T, rts []RouteTarget) [][]byte {
	t.Helper()
	var out [][]byte
	for _, rt := range rts {
		out = append(out, slices.Clone(rt[:]))
	}
	return out
}

func gobgpRTs(t *testing.T, list []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range list {
		rt, err := bgp.ParseRouteTarget(s)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := rt.Serialize()
		out = append(out, b)
	}
	return out
}

// TestAllKeysAreGobgpdKeys checks that every gobgpd key fanout reads is spelled as gobgpd
// spells it: gobgpd's exact decoding (which refuses unknown keys) accepts all-keys.toml,
// and fanout reads every key in it.
func TestAllKeysAreGobgpdKeys(t *testing.T) {
	path := filepath.Join("..", "testdata", "config", "all-keys.toml")
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	var set oc.BgpConfigSet
	if err := v.UnmarshalExact(&set); err != nil {
		t.Fatalf("gobgpd refuses a key: %v", err)
	}
	// Every leaf key of the file, in fanout's spelling, must be one fanout reads.
	var leaves []string
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(join(p, k), c)
			}
		case []any:
			if len(x) > 0 {
				if _, isMap := x[0].(map[string]any); isMap {
					for i, c := range x {
						walk(p+"["+strconv.Itoa(i)+"]", c)
					}
					return
				}
			}
			leaves = append(leaves, p)
		default:
			leaves = append(leaves, p)
		}
	}
	walk("", v.AllSettings())
	if len(leaves) < 60 {
		t.Fatalf("all-keys.toml has only %d leaf keys", len(leaves))
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("fanout refuses all-keys.toml: %v", err)
	}
}

// TestGobgpdKeysAreKnown feeds fanout every key of gobgpd's schema and checks that none is
// called unknown: a gobgpd key fanout does not support is reported as such, never as a typo.
func TestGobgpdKeysAreKnown(t *testing.T) {
	tree := schemaTree(reflect.TypeOf(oc.BgpConfigSet{}), 0).(map[string]any)
	_, err := load(nil, "toml", "", nil)
	if err == nil {
		t.Fatal("an empty config loads: global.config.as and router-id should be required")
	}
	d := &decoder{envUsed: map[string]bool{}}
	d.decode(tree)
	unsupported := 0
	for _, e := range d.errs {
		if e.Msg == "unknown key" {
			t.Errorf("gobgpd key %s is called unknown", e.Key)
		}
		if e.Msg == "gobgpd setting not supported by fanout" {
			unsupported++
		}
	}
	if unsupported < 40 {
		t.Errorf("only %d gobgpd keys reported as unsupported; the schema walk is too shallow", unsupported)
	}
	// And each name in the unsupported lists is a gobgpd key of that table.
	for _, c := range []struct {
		typ   reflect.Type
		names []string
	}{
		{reflect.TypeOf(oc.BgpConfigSet{}), unsupportedRoot},
		{reflect.TypeOf(oc.Global{}), unsupportedGlobal},
		{reflect.TypeOf(oc.Neighbor{}), unsupportedPeer},
		{reflect.TypeOf(oc.PeerGroup{}), unsupportedPeer},
		{reflect.TypeOf(oc.NeighborConfig{}), unsupportedNeighborConfig},
		{reflect.TypeOf(oc.PeerGroupConfig{}), unsupportedGroupConfig},
		{reflect.TypeOf(oc.AfiSafi{}), unsupportedAfiSafi},
		{reflect.TypeOf(oc.TimersConfig{}), []string{"minimum-advertisement-interval", "idle-hold-time-after-reset"}},
		{reflect.TypeOf(oc.TransportConfig{}), []string{"tcp-mss", "mtu-discovery", "local-port", "ttl", "bind-interface"}},
		{reflect.TypeOf(oc.GracefulRestartConfig{}), []string{"stale-routes-time"}},
		{reflect.TypeOf(oc.RouteServerConfig{}), []string{"secondary-route"}},
	} {
		tags := map[string]bool{}
		for i := 0; i < c.typ.NumField(); i++ {
			tags[c.typ.Field(i).Tag.Get("mapstructure")] = true
		}
		for _, n := range c.names {
			if !tags[n] {
				t.Errorf("%s has no key %q", c.typ, n)
			}
		}
	}
	for _, n := range gobgpdAfiSafis {
		if _, ok := oc.AfiSafiTypeToIntMap[oc.AfiSafiType(n)]; !ok {
			t.Errorf("gobgpd has no afi-safi %q", n)
		}
	}
	for _, n := range SupportedAfiSafis {
		if _, ok := oc.AfiSafiTypeToIntMap[oc.AfiSafiType(n)]; !ok {
			t.Errorf("gobgpd has no afi-safi %q", n)
		}
	}
}

// schemaTree builds a raw tree holding every key of gobgpd's schema type typ, with
// placeholder values, lists of tables holding one entry.
func schemaTree(typ reflect.Type, depth int) any {
	switch typ.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		if depth > 12 {
			return m
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if tag := f.Tag.Get("mapstructure"); tag != "" {
				m[tag] = schemaTree(f.Type, depth+1)
			}
		}
		return m
	case reflect.Slice:
		return []any{schemaTree(typ.Elem(), depth+1)}
	case reflect.Bool:
		return true
	case reflect.String:
		return "x"
	default:
		return int64(1)
	}
}

func TestOracleSeesTheSameDefaults(t *testing.T) {
	// A bare neighbor: both daemons fill in the same defaults.
	text := []byte(`
[global.config]
  as = 65000
  router-id = "192.0.2.1"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "2001:db8::2"
    peer-as = 65001
  [neighbors.graceful-restart.config]
    enabled = true
  [neighbors.ebgp-multihop.config]
    enabled = true
`)
	got, err := LoadBytes(text, "toml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bare.toml")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	compareWithGobgpd(t, got, readOracle(t, path, "toml"))
	n := got.Neighbors[0]
	if n.AfiSafis[0].Name != IPv6Unicast || n.Timers.HoldTime != 90*time.Second || n.GracefulRestart.RestartTime != 90*time.Second {
		t.Errorf("defaults: %+v", n)
	}
	if got.Global.Port != 179 || !slices.Equal(got.Global.LocalAddresses, []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}) {
		t.Errorf("global defaults: %+v", got.Global)
	}
}

// TestDivergencesFromGobgpd pins the two places where fanout deliberately reads a peer-group
// member differently from gobgpd (see doc.go): the member's own peer-as and graceful-restart
// keys count. If gobgpd changes, this test says so.
func TestDivergencesFromGobgpd(t *testing.T) {
	text := `
[global.config]
  as = 65000
  router-id = "192.0.2.1"
[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "g"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 65002
    peer-group = "g"
  [neighbors.graceful-restart.config]
    enabled = true
`
	path := filepath.Join(t.TempDir(), "member.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	w := readOracle(t, path, "toml").Neighbors[0]
	if w.Config.PeerAs != 0 || w.GracefulRestart.Config.Enabled {
		t.Errorf("gobgpd now keeps the member's peer-as (%d) or graceful-restart (%v): update doc.go",
			w.Config.PeerAs, w.GracefulRestart.Config.Enabled)
	}
	c, err := LoadBytes([]byte(text), "toml")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Neighbors[0]; n.PeerAS != 65002 || !n.GracefulRestart.Enabled {
		t.Errorf("fanout dropped the member's own keys: %+v", n)
	}
}
