package config

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := load([]byte(text), "toml", "", nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return c
}

const diffBase = base + `
[[peer-groups]]
[peer-groups.config]
peer-group-name = "clients"
peer-as = 65000
[peer-groups.route-reflector.config]
route-reflector-client = true
` + `
[[neighbors]]
[neighbors.config]
neighbor-address = "192.0.2.10"
peer-group = "clients"
[[neighbors]]
[neighbors.config]
neighbor-address = "192.0.2.11"
peer-as = 65011
auth-password = "pw-one"
[[neighbors]]
[neighbors.config]
neighbor-address = "192.0.2.12"
peer-as = 65012
[[dynamic-neighbors]]
[dynamic-neighbors.config]
prefix = "10.0.0.0/8"
peer-group = "clients"
[[vrfs]]
[vrfs.config]
name = "blue"
rd = "65000:1"
both-rt-list = ["65000:1"]
`

func TestDiffNothing(t *testing.T) {
	a, b := mustLoad(t, diffBase), mustLoad(t, diffBase)
	d := Diff(a, b)
	if !d.Empty() || d.NeedsRestart() || d.String() != "no changes\n" {
		t.Errorf("same config: %+v\n%s", d, d)
	}
}

func TestDiffNeighbors(t *testing.T) {
	old := mustLoad(t, diffBase)
	text := strings.Replace(diffBase, `neighbor-address = "192.0.2.12"
peer-as = 65012`, `neighbor-address = "192.0.2.13"
peer-as = 65013`, 1)
	text = strings.Replace(text, `auth-password = "pw-one"`, `auth-password = "pw-two"
description = "changed"
[neighbors.timers.config]
hold-time = 30`, 1)
	d := Diff(old, mustLoad(t, text))
	if !slices.Equal(d.Neighbors.Added, []netip.Addr{addr("192.0.2.13")}) ||
		!slices.Equal(d.Neighbors.Removed, []netip.Addr{addr("192.0.2.12")}) {
		t.Errorf("added %v removed %v", d.Neighbors.Added, d.Neighbors.Removed)
	}
	want := []Changed[netip.Addr]{{Key: addr("192.0.2.11"), Fields: []FieldChange{
		{Key: "config.description", Old: `""`, New: `"changed"`},
		{Key: "config.auth-password", Old: "(set)", New: "(set) (changed)"},
		{Key: "timers.config.hold-time", Old: "1m30s", New: "30s"},
		{Key: "timers.config.keepalive-interval", Old: "30s", New: "10s"},
	}}}
	if !reflect.DeepEqual(d.Neighbors.Changed, want) {
		t.Errorf("changed %+v\nwant %+v", d.Neighbors.Changed, want)
	}
	if d.NeedsRestart() || !d.PeerGroups.empty() || !d.Vrfs.empty() {
		t.Errorf("more changed than the neighbors: %s", d)
	}
	if strings.Contains(d.String(), "pw-") {
		t.Errorf("the password shows:\n%s", d)
	}
	wantText := `neighbor 192.0.2.12: removed
neighbor 192.0.2.13: added
neighbor 192.0.2.11: changed
    config.description: "" -> "changed"
    config.auth-password: (set) -> (set) (changed)
    timers.config.hold-time: 1m30s -> 30s
    timers.config.keepalive-interval: 30s -> 10s
`
	if d.String() != wantText {
		t.Errorf("String:\n%s\nwant:\n%s", d, wantText)
	}
}

// TestDiffPeerGroup: a group change reaches its members, and only them.
func TestDiffPeerGroup(t *testing.T) {
	old := mustLoad(t, diffBase)
	text := strings.Replace(diffBase, "route-reflector-client = true", "route-reflector-client = true\n[peer-groups.timers.config]\nconnect-retry = 5", 1)
	d := Diff(old, mustLoad(t, text))
	fc := []FieldChange{{Key: "timers.config.connect-retry", Old: "2m0s", New: "5s"}}
	if !reflect.DeepEqual(d.PeerGroups.Changed, []Changed[string]{{Key: "clients", Fields: fc}}) {
		t.Errorf("peer groups %+v", d.PeerGroups)
	}
	if !reflect.DeepEqual(d.Neighbors.Changed, []Changed[netip.Addr]{{Key: addr("192.0.2.10"), Fields: fc}}) {
		t.Errorf("neighbors %+v: only the member changes", d.Neighbors)
	}
}

func TestDiffGlobalAndFanout(t *testing.T) {
	old := mustLoad(t, diffBase)
	text := strings.Replace(diffBase, "as = 65000\n", "as = 65001\n", 1)
	text = strings.Replace(text, "peer-as = 65000", "peer-as = 65001", 1)
	text += "[fanout]\nlog-level = \"debug\"\npartitions = 64\n"
	d := Diff(old, mustLoad(t, text))
	if !d.NeedsRestart() {
		t.Error("an AS change needs a restart")
	}
	var restart, live []string
	for _, f := range d.Restart {
		restart = append(restart, f.Key)
	}
	for _, f := range d.Live {
		live = append(live, f.Key)
	}
	if !slices.Equal(restart, []string{"global.config.as", "fanout.partitions"}) || !slices.Equal(live, []string{"fanout.log-level"}) {
		t.Errorf("restart %v live %v", restart, live)
	}
	if !strings.Contains(d.String(), "global.config.as: 65000 -> 65001 (needs a restart)\n") ||
		!strings.Contains(d.String(), "fanout.log-level: info -> debug\n") {
		t.Errorf("String:\n%s", d)
	}
}

func TestDiffDynamicAndVrfs(t *testing.T) {
	old := mustLoad(t, diffBase)
	text := strings.Replace(diffBase, `both-rt-list = ["65000:1"]`, `import-rt-list = ["65000:1", "65000:2"]
export-rt-list = ["65000:1"]
[[vrfs]]
[vrfs.config]
name = "red"
rd = "65000:3"`, 1)
	text = strings.Replace(text, `prefix = "10.0.0.0/8"`, `prefix = "10.0.0.0/16"`, 1)
	d := Diff(old, mustLoad(t, text))
	if !slices.Equal(d.Vrfs.Added, []string{"red"}) || len(d.Vrfs.Changed) != 1 ||
		d.Vrfs.Changed[0].Fields[0] != (FieldChange{Key: "config.import-rt-list", Old: "[65000:1]", New: "[65000:1, 65000:2]"}) {
		t.Errorf("vrfs %+v", d.Vrfs)
	}
	if !slices.Equal(d.DynamicNeighbors.Added, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}) ||
		!slices.Equal(d.DynamicNeighbors.Removed, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
		t.Errorf("dynamic neighbors %+v", d.DynamicNeighbors)
	}
	s := d.String()
	for _, want := range []string{"vrf red: added\n", "vrf blue: changed\n", "dynamic-neighbor 10.0.0.0/8: removed\n", "dynamic-neighbor 10.0.0.0/16: added\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("String lacks %q:\n%s", want, s)
		}
	}
}

func TestDiffAfiSafis(t *testing.T) {
	old := mustLoad(t, diffBase)
	text := strings.Replace(diffBase, `peer-as = 65012`, `peer-as = 65012
[[neighbors.afi-safis]]
[neighbors.afi-safis.config]
afi-safi-name = "ipv4-unicast"
[neighbors.afi-safis.prefix-limit.config]
max-prefixes = 10
[[neighbors.afi-safis]]
[neighbors.afi-safis.config]
afi-safi-name = "ipv6-unicast"`, 1)
	d := Diff(old, mustLoad(t, text))
	want := []FieldChange{
		{Key: "afi-safis", Old: "[ipv4-unicast]", New: "[ipv4-unicast, ipv6-unicast]"},
		{Key: "afi-safis[ipv4-unicast].prefix-limit.config.max-prefixes", Old: "0", New: "10"},
	}
	if len(d.Neighbors.Changed) != 1 || !reflect.DeepEqual(d.Neighbors.Changed[0].Fields, want) {
		t.Errorf("changed %+v", d.Neighbors.Changed)
	}
}
