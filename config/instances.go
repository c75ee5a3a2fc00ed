package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Instance is `fanout.instances[]`: what fanout needs to run a network instance that
// gobgpd's schema has no word for. Name is "default" (the global RIB) or the name of one of
// the `vrfs`. A VRF without an entry here (and the default instance without one) runs with
// no kernel table: its routes are tracked but installed nowhere.
type Instance struct {
	// Name is `name`: "default" or a vrf's name (required; unique).
	Name string
	// Table is `table`: the kernel routing table id (1 to 4294967295, not 255, the local
	// table). Required with install. Unique per network namespace.
	Table uint32
	// Install is `install`: put the instance's best routes into Table. False by default:
	// nothing touches the kernel unless asked.
	Install bool
	// Netns is `netns`: the network namespace (an `ip netns` name) of the instance's table,
	// bridge and ports; empty: the daemon's own.
	Netns string
	// SourceV4 and SourceV6 are `source-v4` and `source-v6`: preferred source addresses of
	// installed routes.
	SourceV4, SourceV6 netip.Addr
	// Bridge is `bridge`: a Linux bridge the instance creates (or reuses) with its ports.
	Bridge string
	// BridgeAddresses is `bridge-addresses`: addresses (with prefix length) of the bridge.
	BridgeAddresses []netip.Prefix
	// RulePriority is `rule-priority`: when set (1 to 32765), a rule of this priority sends
	// traffic arriving on Bridge to Table. Needs bridge.
	RulePriority uint32
	// Ports is `ports`: links attached to Bridge.
	Ports []InstancePort
}

// InstancePort is `fanout.instances[].ports[]`.
type InstancePort struct {
	// Name is `name`: the link (required).
	Name string
	// Peer is `peer`: when set, Name and Peer are created as a veth pair.
	Peer string
	// Addresses is `addresses`: addresses (with prefix length) put on Name.
	Addresses []netip.Prefix
}

const (
	rtTableLocal    = 255
	maxRulePriority = 32765 // the main table's rule is 32766
)

func (d *decoder) instances(list []*table, vrfs []Vrf) []Instance {
	var out []Instance
	names := map[string]int{}
	tables := map[string]int{} // "netns/table" -> index
	for i, t := range list {
		var in Instance
		if t.str("name", &in.Name) {
			in.Name = strings.TrimSpace(in.Name)
			if j, dup := names[in.Name]; dup {
				t.errorf("name", t.envOf("name"), "%q is already the name of fanout.instances[%d]", in.Name, j)
			} else if in.Name == "" {
				t.errorf("name", t.envOf("name"), "empty name")
			}
			names[in.Name] = i
		} else if !t.has("name") {
			t.errorf("name", "", `missing: an instance needs a name ("default" or a vrf's name)`)
		}
		uintKey(t, "table", 1, math.MaxUint32, &in.Table)
		if in.Table == rtTableLocal {
			t.errorf("table", t.envOf("table"), "255 is the kernel's local table")
		}
		t.boolean("install", &in.Install)
		if in.Install && in.Table == 0 {
			t.errorf("install", t.envOf("install"), "true needs a kernel table: set table")
		}
		if t.str("netns", &in.Netns) && !linkName(in.Netns, 255) {
			t.errorf("netns", t.envOf("netns"), "%s is not a network namespace name", strconv.Quote(in.Netns))
		}
		if in.Table != 0 {
			k := in.Netns + "/" + strconv.FormatUint(uint64(in.Table), 10)
			if j, dup := tables[k]; dup {
				t.errorf("table", t.envOf("table"), "%d is already the table of fanout.instances[%d] in the same namespace", in.Table, j)
			}
			tables[k] = i
		}
		if t.addr("source-v4", false, &in.SourceV4) && !in.SourceV4.Is4() {
			t.errorf("source-v4", t.envOf("source-v4"), "%s is not an IPv4 address", in.SourceV4)
		}
		if t.addr("source-v6", false, &in.SourceV6) && (!in.SourceV6.Is6() || in.SourceV6.Is4In6()) {
			t.errorf("source-v6", t.envOf("source-v6"), "%s is not an IPv6 address", in.SourceV6)
		}
		if t.str("bridge", &in.Bridge) && !linkName(in.Bridge, 15) {
			t.errorf("bridge", t.envOf("bridge"), "%s is not a link name (1 to 15 characters, no '/', ':' or spaces)", strconv.Quote(in.Bridge))
		}
		t.prefixList("bridge-addresses", &in.BridgeAddresses)
		if uintKey(t, "rule-priority", 1, maxRulePriority, &in.RulePriority) && in.Bridge == "" {
			t.errorf("rule-priority", t.envOf("rule-priority"), "a rule needs a bridge (the rule is iif BRIDGE lookup TABLE)")
		}
		if len(in.BridgeAddresses) > 0 && in.Bridge == "" {
			t.errorf("bridge-addresses", t.envOf("bridge-addresses"), "addresses need a bridge")
		}
		ports := map[string]bool{in.Bridge: true}
		for _, pt := range t.list("ports") {
			var p InstancePort
			if !pt.str("name", &p.Name) {
				pt.errorf("name", "", "missing: a port needs a link name")
			} else if !linkName(p.Name, 15) {
				pt.errorf("name", pt.envOf("name"), "%s is not a link name (1 to 15 characters, no '/', ':' or spaces)", strconv.Quote(p.Name))
			} else if ports[p.Name] {
				pt.errorf("name", pt.envOf("name"), "%q is named twice in this instance", p.Name)
			}
			ports[p.Name] = true
			if pt.str("peer", &p.Peer) {
				if !linkName(p.Peer, 15) {
					pt.errorf("peer", pt.envOf("peer"), "%s is not a link name (1 to 15 characters, no '/', ':' or spaces)", strconv.Quote(p.Peer))
				} else if ports[p.Peer] {
					pt.errorf("peer", pt.envOf("peer"), "%q is named twice in this instance", p.Peer)
				}
				ports[p.Peer] = true
			}
			pt.prefixList("addresses", &p.Addresses)
			pt.finish()
			in.Ports = append(in.Ports, p)
		}
		t.finish()
		if in.Name != "" && in.Name != "default" && !slices.ContainsFunc(vrfs, func(v Vrf) bool { return v.Name == in.Name }) {
			t.errorf("name", t.envOf("name"), `%q is neither "default" nor the name of a vrf`, in.Name)
		}
		out = append(out, in)
	}
	return out
}

// linkName reports whether s can name a Linux link (max 15) or a namespace (max 255).
func linkName(s string, max int) bool {
	return s != "" && len(s) <= max && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n\x00")
}

// prefixList reads a list of addresses with prefix length ("192.0.2.1/24"), host bits kept.
func (t *table) prefixList(k string, dst *[]netip.Prefix) bool {
	var list []string
	if !t.strList(k, &list) {
		return false
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			t.d.errs = append(t.d.errs, &KeyError{Key: fmt.Sprintf("%s[%d]", t.key(k), i), Env: t.envOf(k),
				Msg: fmt.Sprintf("%s is not an address with a prefix length (write it like 192.0.2.1/24)", strconv.Quote(s))})
			continue
		}
		out = append(out, p)
	}
	*dst = out
	return true
}
