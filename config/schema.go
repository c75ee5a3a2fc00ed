package config

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The gobgpd keys fanout recognises but does not support, per table. finish reports them as
// "not supported by fanout" rather than "unknown key". TestGobgpKeysAreKnown keeps these lists
// in step with gobgpd's schema.
var (
	unsupportedRoot = []string{"rpki-servers", "bmp-servers", "mrt-dump", "zebra", "collector",
		"defined-sets", "policy-definitions"}
	unsupportedGlobal = []string{"state", "route-selection-options", "default-route-distance",
		"confederation", "use-multiple-paths", "graceful-restart", "afi-safis", "apply-policy"}
	unsupportedPeer = []string{"state", "error-handling", "logging-options", "as-path-options",
		"apply-policy", "use-multiple-paths"}
	unsupportedNeighborConfig = []string{"local-as", "peer-type", "remove-private-as",
		"route-flap-damping", "send-community", "neighbor-interface", "send-software-version"}
	unsupportedGroupConfig = []string{"local-as", "peer-type", "remove-private-as",
		"route-flap-damping", "send-community", "send-software-version"}
	unsupportedAfiSafi = []string{"state", "apply-policy", "ipv4-unicast", "ipv6-unicast",
		"ipv4-labelled-unicast", "ipv6-labelled-unicast", "l3vpn-ipv4-unicast", "l3vpn-ipv6-unicast",
		"l3vpn-ipv4-multicast", "l3vpn-ipv6-multicast", "l2vpn-vpls", "l2vpn-evpn",
		"route-selection-options", "use-multiple-paths", "route-target-membership"}
	// gobgpdAfiSafis are gobgpd's other family names, refused as unsupported, not unknown.
	gobgpdAfiSafis = []string{"ipv4-labelled-unicast", "ipv6-labelled-unicast",
		"l3vpn-ipv4-multicast", "l3vpn-ipv6-multicast", "l2vpn-vpls", "l2vpn-evpn", "ipv4-multicast",
		"ipv6-multicast", "rtc", "ipv4-encap", "ipv6-encap", "ipv4-flowspec", "l3vpn-ipv4-flowspec",
		"ipv6-flowspec", "l3vpn-ipv6-flowspec", "l2vpn-flowspec", "ipv4-srpolicy", "ipv6-srpolicy",
		"opaque", "ls", "ipv4-mup", "ipv6-mup"}
)

// Limits on values.
const (
	maxAuthPassword    = 80 // TCP_MD5SIG_MAXKEYLEN
	maxGRRestartTime   = 4095
	maxLLGRRestartTime = 1<<24 - 1
	maxScale           = 1024
)

// decode builds a Config from the raw key tree. Errors collect in d.errs.
func (d *decoder) decode(tree map[string]any) *Config {
	root := d.root(tree)
	c := &Config{}
	d.global(root.sub("global"), &c.Global)
	groups := d.peerGroups(root.list("peer-groups"), c)
	vrfRefs := d.neighbors(root.list("neighbors"), groups, c)
	d.dynamicNeighbors(root.list("dynamic-neighbors"), groups, c)
	d.vrfs(root.list("vrfs"), c)
	d.checkNeighborVrfs(vrfRefs, c.Vrfs)
	ft := root.sub("fanout")
	c.Instances = d.instances(ft.list("instances"), c.Vrfs)
	d.fanout(ft, &c.Fanout)
	root.finish(unsupportedRoot...)
	return c
}

func (t *table) has(k string) bool {
	if t.d.env != nil {
		if _, ok := t.d.env[envName(t.key(k))]; ok {
			return true
		}
	}
	v, ok := t.m[k]
	return ok && v != nil
}

func (d *decoder) global(t *table, g *Global) {
	cfg := t.sub("config")
	if !cfg.asNumber("as", &g.AS) && !cfg.has("as") {
		cfg.errorf("as", "", "missing: the local AS number is required")
	}
	if cfg.addr("router-id", false, &g.RouterID) {
		if !g.RouterID.Is4() || g.RouterID.IsUnspecified() {
			cfg.errorf("router-id", cfg.envOf("router-id"), "%s is not a valid router-id (a non-zero IPv4 address)", strconv.Quote(g.RouterID.String()))
			g.RouterID = netip.Addr{}
		}
	} else if !cfg.has("router-id") {
		cfg.errorf("router-id", "", "missing: a router-id (a non-zero IPv4 address) is required")
	}
	g.Port = defaultPort
	var port int
	if intKey(cfg, "port", -1, 65535, &port) && port != 0 {
		g.Port = port
	}
	var list []string
	if cfg.strList("local-address-list", &list) {
		for i, s := range list {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil || a.Zone() != "" {
				d.errs = append(d.errs, &KeyError{Key: fmt.Sprintf("%s[%d]", cfg.key("local-address-list"), i),
					Env: cfg.envOf("local-address-list"), Msg: strconv.Quote(s) + " is not an IP address"})
				continue
			}
			g.LocalAddresses = append(g.LocalAddresses, a)
		}
	}
	if len(list) == 0 {
		g.LocalAddresses = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	cfg.finish()
	t.finish(unsupportedGlobal...)
}

// peerGroups decodes the peer groups into c and returns each group's raw record (settings as
// written, before defaults) by name, for its members to start from.
func (d *decoder) peerGroups(list []*table, c *Config) map[string]*record {
	groups := map[string]*record{}
	index := map[string]int{}
	for i, t := range list {
		r := newRecord()
		t.set = r.set
		cfg := t.sub("config")
		var name string
		if cfg.str("peer-group-name", &name) {
			if name == "" {
				cfg.errorf("peer-group-name", cfg.envOf("peer-group-name"), "empty name")
			} else if j, dup := index[name]; dup {
				cfg.errorf("peer-group-name", cfg.envOf("peer-group-name"), "%q is already the name of peer-groups[%d]", name, j)
				name = ""
			}
		} else if !cfg.has("peer-group-name") {
			cfg.errorf("peer-group-name", "", "missing: a peer group needs a name")
		}
		d.settings(t, cfg, r)
		cfg.finish(unsupportedGroupConfig...)
		t.finish(unsupportedPeer...)
		if name == "" {
			continue
		}
		index[name] = i
		groups[name] = r
		eff := r.clone()
		finalize(eff, netip.Addr{}, &c.Global)
		d.check(t, &eff.s, nil, &c.Global)
		c.PeerGroups = append(c.PeerGroups, PeerGroup{Name: name, PeerSettings: eff.s})
	}
	return groups
}

func (d *decoder) neighbors(list []*table, groups map[string]*record, c *Config) (vrfRefs []vrfRef) {
	index := map[netip.Addr]int{}
	for i, t := range list {
		own := map[string]bool{}
		t.set = own
		cfg := t.sub("config")
		var n Neighbor
		if cfg.addr("neighbor-address", true, &n.Address) {
			a := n.Address
			switch {
			case a.IsUnspecified() || a.IsMulticast() || (a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
				cfg.errorf("neighbor-address", cfg.envOf("neighbor-address"), "%s is not a unicast address", strconv.Quote(a.String()))
				n.Address = netip.Addr{}
			case a.Is4In6():
				n.Address = a.Unmap()
			}
			if j, dup := index[n.Address]; dup && n.Address.IsValid() {
				cfg.errorf("neighbor-address", cfg.envOf("neighbor-address"), "%s is already configured as neighbors[%d]", strconv.Quote(n.Address.String()), j)
			} else if n.Address.IsValid() {
				index[n.Address] = i
			}
		} else if !cfg.has("neighbor-address") && !cfg.has("neighbor-interface") {
			cfg.errorf("neighbor-address", "", "missing: a neighbor needs an address")
		}
		r := newRecord()
		if cfg.str("peer-group", &n.PeerGroup) && n.PeerGroup != "" {
			if g, ok := groups[n.PeerGroup]; ok {
				r = g.clone()
			} else {
				cfg.errorf("peer-group", cfg.envOf("peer-group"), "peer group %q is not defined in peer-groups", n.PeerGroup)
			}
		}
		cfg.boolean("admin-down", &n.AdminDown)
		if cfg.str("vrf", &n.Vrf) && n.Vrf != "" {
			// Checked against vrfs once they are decoded (checkNeighborVrfs).
			vrfRefs = append(vrfRefs, vrfRef{key: cfg.key("vrf"), env: cfg.envOf("vrf"), name: n.Vrf})
		}
		d.settings(t, cfg, r)
		cfg.finish(unsupportedNeighborConfig...)
		t.finish(unsupportedPeer...)
		for k := range own {
			r.set[k] = true
		}
		if !r.set["config.peer-as"] && !cfg.has("peer-as") {
			where := "here"
			if n.PeerGroup != "" {
				where = fmt.Sprintf("here or in peer group %q", n.PeerGroup)
			}
			cfg.errorf("peer-as", "", "missing: set the neighbor's AS %s", where)
		}
		finalize(r, n.Address, &c.Global)
		n.PeerSettings = r.s
		d.check(t, &n.PeerSettings, own, &c.Global)
		if n.Address.IsValid() {
			if la := n.Transport.LocalAddress; la.IsValid() && !la.IsUnspecified() && la.Is4() != n.Address.Is4() {
				d.errs = append(d.errs, &KeyError{Key: t.key("transport.config.local-address"), Msg: fmt.Sprintf("%s is not of the same address family as neighbor-address %s", strconv.Quote(la.String()), n.Address)})
			}
			c.Neighbors = append(c.Neighbors, n)
		}
	}
	return vrfRefs
}

// vrfRef is a neighbor's `config.vrf`, kept until the vrfs are decoded.
type vrfRef struct {
	key, env, name string
}

// checkNeighborVrfs refuses a neighbor `config.vrf` that names no configured vrf.
func (d *decoder) checkNeighborVrfs(refs []vrfRef, vrfs []Vrf) {
	for _, r := range refs {
		if !slices.ContainsFunc(vrfs, func(v Vrf) bool { return v.Name == r.name }) {
			d.errs = append(d.errs, &KeyError{Key: r.key, Env: r.env, Msg: fmt.Sprintf("%q is not the name of a vrf in vrfs", r.name)})
		}
	}
}

// settings decodes the keys a neighbor and a peer group share onto r; t.set records which
// were set.
func (d *decoder) settings(t, cfg *table, r *record) {
	s := &r.s
	cfg.asNumber("peer-as", &s.PeerAS)
	cfg.str("description", &s.Description)
	if cfg.str("auth-password", &s.AuthPassword) && len(s.AuthPassword) > maxAuthPassword {
		cfg.errorf("auth-password", cfg.envOf("auth-password"), "the TCP MD5 key is %d bytes, more than %d", len(s.AuthPassword), maxAuthPassword)
	}

	tm := t.sub("timers")
	tc := tm.sub("config")
	if tc.seconds("hold-time", 65535, true, &s.Timers.HoldTime) && s.Timers.HoldTime > 0 && s.Timers.HoldTime < 3*time.Second {
		tc.errorf("hold-time", tc.envOf("hold-time"), "%d is not allowed: the hold time is 0 or at least 3 seconds (RFC 4271 4.2)", s.Timers.HoldTime/time.Second)
	}
	tc.seconds("keepalive-interval", 65535, false, &s.Timers.KeepaliveInterval)
	if tc.seconds("connect-retry", 65535, false, &s.Timers.ConnectRetry) && s.Timers.ConnectRetry < time.Second {
		tc.errorf("connect-retry", tc.envOf("connect-retry"), "%s is less than 1 second", s.Timers.ConnectRetry)
	}
	tc.finish("minimum-advertisement-interval", "idle-hold-time-after-reset")
	tm.finish("state")

	tr := t.sub("transport")
	trc := tr.sub("config")
	trc.addr("local-address", true, &s.Transport.LocalAddress)
	trc.boolean("passive-mode", &s.Transport.PassiveMode)
	uintKey(trc, "remote-port", 1, 65535, &s.Transport.RemotePort)
	trc.finish("tcp-mss", "mtu-discovery", "local-port", "ttl", "bind-interface")
	tr.finish("state")

	mh := t.sub("ebgp-multihop")
	mhc := mh.sub("config")
	mhc.boolean("enabled", &s.EbgpMultihop.Enabled)
	uintKey(mhc, "multihop-ttl", 1, 255, &s.EbgpMultihop.MultihopTTL)
	mhc.finish()
	mh.finish("state")

	ts := t.sub("ttl-security")
	tsc := ts.sub("config")
	tsc.boolean("enabled", &s.TTLSecurity.Enabled)
	uintKey(tsc, "ttl-min", 1, 255, &s.TTLSecurity.TTLMin)
	tsc.finish()
	ts.finish("state")

	rr := t.sub("route-reflector")
	rrc := rr.sub("config")
	rrc.boolean("route-reflector-client", &s.RouteReflector.Client)
	rrc.clusterID("route-reflector-cluster-id", &s.RouteReflector.ClusterID)
	rrc.finish()
	rr.finish("state")

	rs := t.sub("route-server")
	rsc := rs.sub("config")
	rsc.boolean("route-server-client", &s.RouteServer.Client)
	rsc.finish("secondary-route")
	rs.finish("state")

	gr := t.sub("graceful-restart")
	grc := gr.sub("config")
	grc.boolean("enabled", &s.GracefulRestart.Enabled)
	grc.seconds("restart-time", maxGRRestartTime, true, &s.GracefulRestart.RestartTime)
	grc.boolean("helper-only", &s.GracefulRestart.HelperOnly)
	grc.seconds("deferral-time", 65535, true, &s.GracefulRestart.DeferralTime)
	grc.boolean("notification-enabled", &s.GracefulRestart.NotificationEnabled)
	grc.boolean("long-lived-enabled", &s.GracefulRestart.LongLivedEnabled)
	grc.finish("stale-routes-time")
	gr.finish("state")

	ap := t.sub("add-paths")
	apc := ap.sub("config")
	apc.boolean("receive", &s.AddPaths.Receive)
	uintKey(apc, "send-max", 0, 255, &s.AddPaths.SendMax)
	apc.finish()
	ap.finish("state")

	if v, inFile := t.m["afi-safis"]; inFile && v != nil {
		t.mark("afi-safis")
		s.AfiSafis, r.afiSet = nil, nil
		seen := map[AfiSafiName]int{}
		for i, at := range t.list("afi-safis") {
			a, set, ok := d.afiSafi(at)
			if !ok {
				continue
			}
			if j, dup := seen[a.Name]; dup {
				at.sub("config").errorf("afi-safi-name", "", "%q is already listed as afi-safis[%d]", a.Name, j)
				continue
			}
			seen[a.Name] = i
			s.AfiSafis = append(s.AfiSafis, a)
			r.afiSet = append(r.afiSet, set)
		}
	}
}

// afiSafi decodes one entry of afi-safis; ok is false when it has no usable name.
func (d *decoder) afiSafi(t *table) (a AfiSafi, set map[string]bool, ok bool) {
	set = map[string]bool{}
	t.set, t.rel = set, ""
	cfg := t.sub("config")
	var name string
	if cfg.str("afi-safi-name", &name) {
		switch n := AfiSafiName(name); {
		case slices.Contains(SupportedAfiSafis, n):
			a.Name, ok = n, true
		case slices.Contains(gobgpdAfiSafis, name):
			cfg.errorf("afi-safi-name", cfg.envOf("afi-safi-name"), "%q is not supported by fanout (supported: %s)", name, supportedList())
		default:
			cfg.errorf("afi-safi-name", cfg.envOf("afi-safi-name"), "%q is not an afi-safi name (supported: %s)", name, supportedList())
		}
	} else if !cfg.has("afi-safi-name") {
		cfg.errorf("afi-safi-name", "", "missing: each afi-safis entry needs a name")
	}
	cfg.boolean("enabled", &a.Enabled)
	cfg.finish()

	pl := t.sub("prefix-limit")
	plc := pl.sub("config")
	uintKey(plc, "max-prefixes", 0, math.MaxUint32, &a.PrefixLimit.MaxPrefixes)
	uintKey(plc, "shutdown-threshold-pct", 0, 100, &a.PrefixLimit.ShutdownThresholdPct)
	plc.seconds("restart-timer", 65535, false, &a.PrefixLimit.RestartTimer)
	plc.finish()
	pl.finish("state")

	ap := t.sub("add-paths")
	apc := ap.sub("config")
	apc.boolean("receive", &a.AddPaths.Receive)
	uintKey(apc, "send-max", 0, 255, &a.AddPaths.SendMax)
	apc.finish()
	ap.finish("state")

	mp := t.sub("mp-graceful-restart")
	mpc := mp.sub("config")
	mpc.boolean("enabled", &a.MpGracefulRestart)
	mpc.finish()
	mp.finish("state")

	ll := t.sub("long-lived-graceful-restart")
	llc := ll.sub("config")
	llc.boolean("enabled", &a.LongLivedGracefulRestart.Enabled)
	llc.seconds("restart-time", maxLLGRRestartTime, true, &a.LongLivedGracefulRestart.RestartTime)
	llc.finish()
	ll.finish("state")

	t.finish(unsupportedAfiSafi...)
	return a, set, ok
}

func supportedList() string {
	s := make([]string, len(SupportedAfiSafis))
	for i, n := range SupportedAfiSafis {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// clusterID reads a route-reflector cluster id: an IPv4 address or a 32-bit number, as in
// gobgpd.
func (t *table) clusterID(k string, dst *netip.Addr) bool {
	v, env, ok := t.raw(k)
	if !ok {
		return false
	}
	var a netip.Addr
	if s, isStr := v.(string); isStr && !isNumeric(s) {
		p, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !p.Is4() {
			t.errorf(k, env, "%s is not a cluster id (an IPv4 address or a 32-bit number)", show(v))
			return false
		}
		a = p
	} else {
		f, isNum := number(v)
		if !isNum || f != math.Trunc(f) || f < 0 || f > math.MaxUint32 {
			t.errorf(k, env, "%s is not a cluster id (an IPv4 address or a 32-bit number)", show(v))
			return false
		}
		n := uint32(f)
		a = netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	if a.IsUnspecified() {
		t.errorf(k, env, "%s is not a cluster id: it must not be 0", show(v))
		return false
	}
	*dst = a
	t.mark(k)
	return true
}

// finalize applies gobgpd's defaults to what r does not set. addr is the neighbor's address,
// or the zero Addr for a peer group (which then gets no default afi-safis).
func finalize(r *record, addr netip.Addr, g *Global) {
	s, set := &r.s, r.set
	if !set["timers.config.hold-time"] {
		s.Timers.HoldTime = defaultHoldTime
	}
	if !set["timers.config.keepalive-interval"] {
		s.Timers.KeepaliveInterval = s.Timers.HoldTime / 3
	}
	if !set["timers.config.connect-retry"] {
		s.Timers.ConnectRetry = defaultConnectRetry
	}
	if !set["transport.config.remote-port"] {
		s.Transport.RemotePort = defaultPort
	}
	if !set["afi-safis"] && addr.IsValid() {
		s.AfiSafis = []AfiSafi{{Name: unicastFor(addr)}}
		r.afiSet = []map[string]bool{{}}
	}
	for i := range s.AfiSafis {
		a, as := &s.AfiSafis[i], r.afiSet[i]
		if !as["config.enabled"] {
			a.Enabled = true
		}
		if !as["add-paths.config.receive"] {
			a.AddPaths.Receive = s.AddPaths.Receive
		}
		if !as["add-paths.config.send-max"] {
			a.AddPaths.SendMax = s.AddPaths.SendMax
		}
	}
	if s.GracefulRestart.Enabled {
		if !set["graceful-restart.config.restart-time"] {
			s.GracefulRestart.RestartTime = min(s.Timers.HoldTime.Truncate(time.Second), maxGRRestartTime*time.Second)
		}
		if !set["graceful-restart.config.deferral-time"] {
			s.GracefulRestart.DeferralTime = defaultDeferralTime
		}
	}
	if s.EbgpMultihop.Enabled && !set["ebgp-multihop.config.multihop-ttl"] {
		s.EbgpMultihop.MultihopTTL = defaultTTL
	}
	if s.TTLSecurity.Enabled && !set["ttl-security.config.ttl-min"] {
		s.TTLSecurity.TTLMin = defaultTTL
	}
	if s.RouteReflector.Client && !set["route-reflector.config.route-reflector-cluster-id"] {
		s.RouteReflector.ClusterID = g.RouterID
	}
}

// check refuses combinations of settings. own holds the keys a neighbor set itself; a
// problem made only of keys inherited from its peer group is reported once, on the group
// (own is nil for a group: everything is its own).
func (d *decoder) check(t *table, s *PeerSettings, own map[string]bool, g *Global) {
	mine := func(keys ...string) bool {
		if own == nil {
			return true
		}
		for _, k := range keys {
			if own[k] {
				return true
			}
		}
		return false
	}
	const (
		hold, keep = "timers.config.hold-time", "timers.config.keepalive-interval"
		rrClient   = "route-reflector.config.route-reflector-client"
		rsClient   = "route-server.config.route-server-client"
		peerAS     = "config.peer-as"
		grEnabled  = "graceful-restart.config.enabled"
	)
	at := func(key, format string, args ...any) {
		d.errs = append(d.errs, &KeyError{Key: t.key(key), Msg: fmt.Sprintf(format, args...)})
	}
	tm := s.Timers
	switch {
	case tm.HoldTime > 0 && tm.HoldTime < 3*time.Second:
		// Reported where it was read.
	case tm.KeepaliveInterval > tm.HoldTime && mine(hold, keep):
		at(keep, "%s is more than hold-time %s", tm.KeepaliveInterval, tm.HoldTime)
	case tm.HoldTime > 0 && tm.KeepaliveInterval == 0 && mine(hold, keep):
		at(keep, "0 with hold-time %s: the session would expire without keepalives", tm.HoldTime)
	case tm.KeepaliveInterval > 0 && tm.KeepaliveInterval < time.Second && mine(hold, keep):
		at(keep, "%s is less than 1 second (RFC 4271 10)", tm.KeepaliveInterval)
	}
	if s.RouteReflector.Client && s.PeerAS != 0 && g.AS != 0 && s.PeerAS != g.AS && mine(rrClient, peerAS) {
		at(rrClient, "true on an eBGP neighbor (peer-as %d, local AS %d): route reflection is for iBGP peers (RFC 4456)", s.PeerAS, g.AS)
	}
	if s.RouteReflector.Client && s.RouteServer.Client && mine(rrClient, rsClient) {
		at(rsClient, "true together with route-reflector-client: a peer is a route-server client or a route-reflector client, not both")
	}
	if s.EbgpMultihop.Enabled && s.TTLSecurity.Enabled && mine("ebgp-multihop.config.enabled", "ttl-security.config.enabled") {
		at("ttl-security.config.enabled", "true together with ebgp-multihop: ttl-security and ebgp-multihop are mutually exclusive")
	}
	gr := s.GracefulRestart
	if !gr.Enabled {
		for _, o := range []struct {
			key string
			on  bool
		}{{"helper-only", gr.HelperOnly}, {"notification-enabled", gr.NotificationEnabled}, {"long-lived-enabled", gr.LongLivedEnabled}} {
			if o.on && mine(grEnabled, "graceful-restart.config."+o.key) {
				at("graceful-restart.config."+o.key, "true while graceful-restart.config.enabled is false")
			}
		}
	}
	if mine("afi-safis", grEnabled, "graceful-restart.config.long-lived-enabled") {
		for i, a := range s.AfiSafis {
			p := fmt.Sprintf("afi-safis[%d]", i)
			if a.MpGracefulRestart && !gr.Enabled {
				at(p+".mp-graceful-restart.config.enabled", "true while graceful-restart.config.enabled is false")
			}
			if a.LongLivedGracefulRestart.Enabled && !gr.LongLivedEnabled {
				at(p+".long-lived-graceful-restart.config.enabled", "true while graceful-restart.config.long-lived-enabled is false")
			}
		}
	}
}

func (d *decoder) dynamicNeighbors(list []*table, groups map[string]*record, c *Config) {
	index := map[netip.Prefix]int{}
	for i, t := range list {
		cfg := t.sub("config")
		var dn DynamicNeighbor
		var s string
		if cfg.str("prefix", &s) {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				cfg.errorf("prefix", cfg.envOf("prefix"), "%s is not a prefix (write it like 192.0.2.0/24)", strconv.Quote(s))
			} else {
				dn.Prefix = p.Masked()
				if j, dup := index[dn.Prefix]; dup {
					cfg.errorf("prefix", cfg.envOf("prefix"), "%s is already the prefix of dynamic-neighbors[%d]", dn.Prefix, j)
					dn.Prefix = netip.Prefix{}
				} else {
					index[dn.Prefix] = i
				}
			}
		} else if !cfg.has("prefix") {
			cfg.errorf("prefix", "", "missing: a dynamic neighbor range needs a prefix")
		}
		if cfg.str("peer-group", &dn.PeerGroup) {
			if g, ok := groups[dn.PeerGroup]; !ok {
				cfg.errorf("peer-group", cfg.envOf("peer-group"), "peer group %q is not defined in peer-groups", dn.PeerGroup)
				dn.PeerGroup = ""
			} else if !g.set["config.peer-as"] {
				cfg.errorf("peer-group", cfg.envOf("peer-group"), "peer group %q sets no peer-as, which dynamic peers need", dn.PeerGroup)
				dn.PeerGroup = ""
			}
		} else if !cfg.has("peer-group") {
			cfg.errorf("peer-group", "", "missing: a dynamic neighbor range needs a peer group")
		}
		cfg.finish()
		t.finish("state")
		if dn.Prefix.IsValid() && dn.PeerGroup != "" {
			c.DynamicNeighbors = append(c.DynamicNeighbors, dn)
		}
	}
}

func (d *decoder) vrfs(list []*table, c *Config) {
	names := map[string]int{}
	ids := map[uint32]int{}
	for i, t := range list {
		cfg := t.sub("config")
		var v Vrf
		if cfg.str("name", &v.Name) {
			if v.Name == "" {
				cfg.errorf("name", cfg.envOf("name"), "empty name")
			} else if j, dup := names[v.Name]; dup {
				cfg.errorf("name", cfg.envOf("name"), "%q is already the name of vrfs[%d]", v.Name, j)
				v.Name = ""
			}
		} else if !cfg.has("name") {
			cfg.errorf("name", "", "missing: a vrf needs a name")
		}
		if uintKey(cfg, "id", 0, math.MaxUint32, &v.ID) && v.ID != 0 {
			if j, dup := ids[v.ID]; dup {
				cfg.errorf("id", cfg.envOf("id"), "%d is already the id of vrfs[%d]", v.ID, j)
			} else {
				ids[v.ID] = i
			}
		}
		var rd string
		rdOK := false
		if cfg.str("rd", &rd) {
			var err error
			if v.RD, err = ParseRouteDistinguisher(rd); err != nil {
				cfg.errorf("rd", cfg.envOf("rd"), "%v", err)
			} else {
				rdOK = true
			}
		} else if !cfg.has("rd") {
			cfg.errorf("rd", "", "missing: a vrf needs a route distinguisher")
		}
		var both []RouteTarget
		cfg.rtList("both-rt-list", &both)
		if !cfg.rtList("import-rt-list", &v.ImportRTs) {
			v.ImportRTs = slices.Clone(both)
		}
		if !cfg.rtList("export-rt-list", &v.ExportRTs) {
			v.ExportRTs = slices.Clone(both)
		}
		cfg.finish()
		t.finish("state")
		if v.Name != "" {
			names[v.Name] = i
		}
		if v.Name != "" && rdOK {
			c.Vrfs = append(c.Vrfs, v)
		}
	}
	// Give the vrfs without an id the smallest free one, in file order, as gobgpd does.
	next := uint32(1)
	for i := range c.Vrfs {
		if c.Vrfs[i].ID != 0 {
			continue
		}
		for {
			if _, taken := ids[next]; !taken {
				break
			}
			next++
		}
		c.Vrfs[i].ID = next
		ids[next] = -1
	}
}

func (t *table) rtList(k string, dst *[]RouteTarget) bool {
	var list []string
	if !t.strList(k, &list) {
		return false
	}
	out := make([]RouteTarget, 0, len(list))
	for i, s := range list {
		rt, err := ParseRouteTarget(s)
		if err != nil {
			t.d.errs = append(t.d.errs, &KeyError{Key: fmt.Sprintf("%s[%d]", t.key(k), i), Env: t.envOf(k), Msg: err.Error()})
			continue
		}
		out = append(out, rt)
	}
	*dst = out
	return true
}

var logLevels = []string{"debug", "info", "warn", "error"}

// defaultFanout is the fanout table with nothing set.
func defaultFanout() Fanout {
	return Fanout{
		Partitions:             runtime.NumCPU(),
		Workers:                runtime.GOMAXPROCS(0),
		HTTPAddress:            netip.MustParseAddrPort(DefaultHTTPAddress),
		GRPCAddress:            netip.MustParseAddrPort(DefaultGRPCAddress),
		RouteReconcileInterval: DefaultRouteReconcileInterval,
		Sync:                   Sync{MaxConcurrentWalks: DefaultMaxConcurrentWalks, MaxStartDelay: DefaultMaxStartDelay},
		LogLevel:               DefaultLogLevel,
	}
}

func (d *decoder) fanout(t *table, f *Fanout) {
	*f = defaultFanout()
	intKey(t, "partitions", 1, maxScale, &f.Partitions)
	intKey(t, "workers", 1, maxScale, &f.Workers)
	t.addrPort("http-address", &f.HTTPAddress)
	t.addrPort("grpc-address", &f.GRPCAddress)
	t.duration("route-reconcile-interval", 24*time.Hour, &f.RouteReconcileInterval)
	sy := t.sub("sync")
	intKey(sy, "max-concurrent-walks", 1, maxScale, &f.Sync.MaxConcurrentWalks)
	sy.duration("max-start-delay", 10*time.Minute, &f.Sync.MaxStartDelay)
	sy.finish()
	var lvl string
	if t.str("log-level", &lvl) {
		lvl = strings.ToLower(strings.TrimSpace(lvl))
		if slices.Contains(logLevels, lvl) {
			f.LogLevel = lvl
		} else {
			t.errorf("log-level", t.envOf("log-level"), "%s is not a log level (%s)", strconv.Quote(lvl), strings.Join(logLevels, ", "))
		}
	}
	for _, k := range []struct {
		key string
		dst *int64
	}{{"memory-limit", &f.MemoryLimit}, {"memory-ceiling", &f.MemoryCeiling}} {
		if v, env, ok := t.raw(k.key); ok {
			n, err := parseSize(v)
			if err != nil {
				t.errorf(k.key, env, "%s %v", show(v), err)
			} else {
				*k.dst = n
			}
		}
	}
	ad := t.sub("admission")
	intKey(ad, "per-source-burst", 1, 1<<20, &f.Admission.PerSourceBurst)
	ad.duration("per-source-interval", time.Hour, &f.Admission.PerSourceInterval)
	intKey(ad, "max-unestablished", 1, 1<<20, &f.Admission.MaxUnestablished)
	ad.finish()
	t.finish()
}

func (t *table) addrPort(k string, dst *netip.AddrPort) bool {
	var s string
	if !t.str(k, &s) {
		return false
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil {
		t.errorf(k, t.envOf(k), "%s is not an IP address and port (write it like 127.0.0.1:9179 or [::1]:9179)", strconv.Quote(s))
		return false
	}
	*dst = ap
	return true
}

// parseSize reads a byte count: a number, or a number with one of the suffixes GOMEMLIMIT
// takes (B, KiB, MiB, GiB, TiB).
func parseSize(v any) (int64, error) {
	const bad = "is not a size (write it like 512MiB or 2GiB, or a number of bytes)"
	s, isStr := v.(string)
	if !isStr {
		f, ok := number(v)
		if !ok || f != math.Trunc(f) || f < 0 || f >= math.MaxInt64 {
			return 0, fmt.Errorf(bad)
		}
		return int64(f), nil
	}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf(bad)
	}
	return n * mult, nil
}
