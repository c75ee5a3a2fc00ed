package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Delta is what changed from one Config to the next: what a reload must do. Neighbors are
// compared by their effective settings, so a peer-group change shows up on every member it
// reaches, and a neighbor that is not listed did not change (its session must not be reset).
// Made by Diff; plain data owned by the caller.
type Delta struct {
	// Restart lists the global and fanout keys that changed and take effect only when the
	// daemon restarts (AS, router-id, BGP listener, partitions, workers, API listeners).
	Restart []FieldChange
	// Live lists the fanout keys that changed and apply without a restart (log level,
	// memory limit, reconcile interval, sync pacing).
	Live             []FieldChange
	Neighbors        Changes[netip.Addr]
	PeerGroups       Changes[string]
	DynamicNeighbors Changes[netip.Prefix]
	Vrfs             Changes[string]
}

// Changes lists the members of one collection (neighbors, peer groups, ...) that were added,
// removed or changed, by key. Added and Changed follow the new file's order, Removed the
// old's.
type Changes[K comparable] struct {
	Added   []K
	Removed []K
	Changed []Changed[K]
}

// Changed is one member present in both configurations whose settings differ.
type Changed[K comparable] struct {
	Key    K
	Fields []FieldChange
}

// FieldChange is one key whose value differs. Key is in gobgpd's spelling, relative to the
// member (timers.config.hold-time) or absolute for Restart and Live (global.config.as).
// Old and New are display strings; secrets (auth-password) are never shown.
type FieldChange struct {
	Key      string
	Old, New string
}

// Diff compares the configuration running (old) with the one loaded for reload (new).
func Diff(old, new *Config) *Delta {
	d := &Delta{}
	for _, fc := range diffFields(globalFields(old), globalFields(new)) {
		if liveKeys[fc.Key] {
			d.Live = append(d.Live, fc)
		} else {
			d.Restart = append(d.Restart, fc)
		}
	}
	d.Neighbors = diffSet(old.Neighbors, new.Neighbors,
		func(n Neighbor) netip.Addr { return n.Address }, neighborFields)
	d.PeerGroups = diffSet(old.PeerGroups, new.PeerGroups,
		func(g PeerGroup) string { return g.Name }, func(g PeerGroup) []field { return settingsFields(&g.PeerSettings) })
	d.DynamicNeighbors = diffSet(old.DynamicNeighbors, new.DynamicNeighbors,
		func(n DynamicNeighbor) netip.Prefix { return n.Prefix },
		func(n DynamicNeighbor) []field {
			return []field{{key: "config.peer-group", val: strconv.Quote(n.PeerGroup)}}
		})
	d.Vrfs = diffSet(old.Vrfs, new.Vrfs, func(v Vrf) string { return v.Name }, vrfFields)
	// VRF tables are built when fanoutd starts: any change to vrfs needs a restart.
	if !d.Vrfs.empty() {
		var what []string
		for _, n := range d.Vrfs.Added {
			what = append(what, "+"+n)
		}
		for _, n := range d.Vrfs.Removed {
			what = append(what, "-"+n)
		}
		for _, c := range d.Vrfs.Changed {
			what = append(what, "~"+c.Key)
		}
		d.Restart = append(d.Restart, FieldChange{Key: "vrfs", Old: "as running", New: strings.Join(what, " ")})
	}
	return d
}

// Empty reports whether nothing changed.
func (d *Delta) Empty() bool {
	return len(d.Restart) == 0 && len(d.Live) == 0 && d.Neighbors.empty() && d.PeerGroups.empty() &&
		d.DynamicNeighbors.empty() && d.Vrfs.empty()
}

// NeedsRestart reports whether some change takes effect only after a restart.
func (d *Delta) NeedsRestart() bool { return len(d.Restart) > 0 }

func (c *Changes[K]) empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// String renders the delta for people, one change per line, as a --check flag prints it.
func (d *Delta) String() string {
	if d.Empty() {
		return "no changes\n"
	}
	var b strings.Builder
	for _, fc := range d.Restart {
		fmt.Fprintf(&b, "%s: %s -> %s (needs a restart)\n", fc.Key, fc.Old, fc.New)
	}
	for _, fc := range d.Live {
		fmt.Fprintf(&b, "%s: %s -> %s\n", fc.Key, fc.Old, fc.New)
	}
	writeChanges(&b, "peer-group", &d.PeerGroups)
	writeChanges(&b, "neighbor", &d.Neighbors)
	writeChanges(&b, "dynamic-neighbor", &d.DynamicNeighbors)
	writeChanges(&b, "vrf", &d.Vrfs)
	return b.String()
}

func writeChanges[K comparable](b *strings.Builder, what string, c *Changes[K]) {
	for _, k := range c.Removed {
		fmt.Fprintf(b, "%s %v: removed\n", what, k)
	}
	for _, k := range c.Added {
		fmt.Fprintf(b, "%s %v: added\n", what, k)
	}
	for _, ch := range c.Changed {
		fmt.Fprintf(b, "%s %v: changed\n", what, ch.Key)
		for _, fc := range ch.Fields {
			fmt.Fprintf(b, "    %s: %s -> %s\n", fc.Key, fc.Old, fc.New)
		}
	}
}

// field is one flattened key and its display value.
type field struct {
	key, val string
	secret   bool
}

// diffFields compares two flattenings of the same kind of value. Keys present on one side only
// (an afi-safi's details when the family list changed) are covered by the list's own field.
func diffFields(old, new []field) []FieldChange {
	om := make(map[string]field, len(old))
	for _, f := range old {
		om[f.key] = f
	}
	var out []FieldChange
	for _, nf := range new {
		of, ok := om[nf.key]
		if !ok || of.val == nf.val {
			continue
		}
		fc := FieldChange{Key: nf.key, Old: of.val, New: nf.val}
		if nf.secret {
			fc.Old, fc.New = redact(of.val), redact(nf.val)
			if fc.Old == fc.New {
				fc.New += " (changed)"
			}
		}
		out = append(out, fc)
	}
	return out
}

func redact(v string) string {
	if v == `""` {
		return "(none)"
	}
	return "(set)"
}

func diffSet[T any, K comparable](old, new []T, key func(T) K, fields func(T) []field) Changes[K] {
	var c Changes[K]
	om := make(map[K]T, len(old))
	for _, o := range old {
		om[key(o)] = o
	}
	nm := make(map[K]bool, len(new))
	for _, n := range new {
		k := key(n)
		nm[k] = true
		o, ok := om[k]
		if !ok {
			c.Added = append(c.Added, k)
			continue
		}
		if fc := diffFields(fields(o), fields(n)); len(fc) > 0 {
			c.Changed = append(c.Changed, Changed[K]{Key: k, Fields: fc})
		}
	}
	for _, o := range old {
		if k := key(o); !nm[k] {
			c.Removed = append(c.Removed, k)
		}
	}
	return c
}

// liveKeys are the global and fanout keys a running daemon can apply without a restart.
var liveKeys = map[string]bool{
	"fanout.route-reconcile-interval":  true,
	"fanout.sync.max-concurrent-walks": true,
	"fanout.sync.max-start-delay":      true,
	"fanout.log-level":                 true,
	"fanout.memory-limit":              true,
}

func globalFields(c *Config) []field {
	g, f := &c.Global, &c.Fanout
	return []field{
		{key: "global.config.as", val: num(g.AS)},
		{key: "global.config.router-id", val: g.RouterID.String()},
		{key: "global.config.port", val: strconv.Itoa(g.Port)},
		{key: "global.config.local-address-list", val: list(g.LocalAddresses)},
		{key: "fanout.partitions", val: strconv.Itoa(f.Partitions)},
		{key: "fanout.workers", val: strconv.Itoa(f.Workers)},
		{key: "fanout.http-address", val: f.HTTPAddress.String()},
		{key: "fanout.grpc-address", val: f.GRPCAddress.String()},
		{key: "fanout.route-reconcile-interval", val: f.RouteReconcileInterval.String()},
		{key: "fanout.sync.max-concurrent-walks", val: strconv.Itoa(f.Sync.MaxConcurrentWalks)},
		{key: "fanout.sync.max-start-delay", val: f.Sync.MaxStartDelay.String()},
		{key: "fanout.log-level", val: f.LogLevel},
		{key: "fanout.memory-limit", val: strconv.FormatInt(f.MemoryLimit, 10)},
	}
}

func neighborFields(n Neighbor) []field {
	return append([]field{
		{key: "config.peer-group", val: strconv.Quote(n.PeerGroup)},
		{key: "config.admin-down", val: strconv.FormatBool(n.AdminDown)},
		{key: "config.vrf", val: strconv.Quote(n.Vrf)},
	}, settingsFields(&n.PeerSettings)...)
}

func settingsFields(s *PeerSettings) []field {
	fs := []field{
		{key: "config.peer-as", val: num(s.PeerAS)},
		{key: "config.description", val: strconv.Quote(s.Description)},
		{key: "config.auth-password", val: strconv.Quote(s.AuthPassword), secret: true},
		{key: "timers.config.hold-time", val: s.Timers.HoldTime.String()},
		{key: "timers.config.keepalive-interval", val: s.Timers.KeepaliveInterval.String()},
		{key: "timers.config.connect-retry", val: s.Timers.ConnectRetry.String()},
		{key: "transport.config.local-address", val: addrOrNone(s.Transport.LocalAddress)},
		{key: "transport.config.passive-mode", val: strconv.FormatBool(s.Transport.PassiveMode)},
		{key: "transport.config.remote-port", val: num(s.Transport.RemotePort)},
		{key: "add-paths.config.receive", val: strconv.FormatBool(s.AddPaths.Receive)},
		{key: "add-paths.config.send-max", val: num(s.AddPaths.SendMax)},
		{key: "route-reflector.config.route-reflector-client", val: strconv.FormatBool(s.RouteReflector.Client)},
		{key: "route-reflector.config.route-reflector-cluster-id", val: addrOrNone(s.RouteReflector.ClusterID)},
		{key: "route-server.config.route-server-client", val: strconv.FormatBool(s.RouteServer.Client)},
		{key: "graceful-restart.config.enabled", val: strconv.FormatBool(s.GracefulRestart.Enabled)},
		{key: "graceful-restart.config.restart-time", val: s.GracefulRestart.RestartTime.String()},
		{key: "graceful-restart.config.helper-only", val: strconv.FormatBool(s.GracefulRestart.HelperOnly)},
		{key: "graceful-restart.config.deferral-time", val: s.GracefulRestart.DeferralTime.String()},
		{key: "graceful-restart.config.notification-enabled", val: strconv.FormatBool(s.GracefulRestart.NotificationEnabled)},
		{key: "graceful-restart.config.long-lived-enabled", val: strconv.FormatBool(s.GracefulRestart.LongLivedEnabled)},
		{key: "ebgp-multihop.config.enabled", val: strconv.FormatBool(s.EbgpMultihop.Enabled)},
		{key: "ebgp-multihop.config.multihop-ttl", val: num(s.EbgpMultihop.MultihopTTL)},
		{key: "ttl-security.config.enabled", val: strconv.FormatBool(s.TTLSecurity.Enabled)},
		{key: "ttl-security.config.ttl-min", val: num(s.TTLSecurity.TTLMin)},
	}
	names := make([]AfiSafiName, len(s.AfiSafis))
	for i, a := range s.AfiSafis {
		names[i] = a.Name
	}
	fs = append(fs, field{key: "afi-safis", val: list(names)})
	for _, a := range s.AfiSafis {
		p := "afi-safis[" + string(a.Name) + "]."
		fs = append(fs,
			field{key: p + "config.enabled", val: strconv.FormatBool(a.Enabled)},
			field{key: p + "prefix-limit.config.max-prefixes", val: num(a.PrefixLimit.MaxPrefixes)},
			field{key: p + "prefix-limit.config.shutdown-threshold-pct", val: num(a.PrefixLimit.ShutdownThresholdPct)},
			field{key: p + "prefix-limit.config.restart-timer", val: a.PrefixLimit.RestartTimer.String()},
			field{key: p + "add-paths.config.receive", val: strconv.FormatBool(a.AddPaths.Receive)},
			field{key: p + "add-paths.config.send-max", val: num(a.AddPaths.SendMax)},
			field{key: p + "mp-graceful-restart.config.enabled", val: strconv.FormatBool(a.MpGracefulRestart)},
			field{key: p + "long-lived-graceful-restart.config.enabled", val: strconv.FormatBool(a.LongLivedGracefulRestart.Enabled)},
			field{key: p + "long-lived-graceful-restart.config.restart-time", val: a.LongLivedGracefulRestart.RestartTime.String()},
		)
	}
	return fs
}

func vrfFields(v Vrf) []field {
	return []field{
		{key: "config.id", val: num(v.ID)},
		{key: "config.rd", val: v.RD.String()},
		{key: "config.import-rt-list", val: list(v.ImportRTs)},
		{key: "config.export-rt-list", val: list(v.ExportRTs)},
	}
}

func num[T uint8 | uint16 | uint32](v T) string { return strconv.FormatUint(uint64(v), 10) }

func addrOrNone(a netip.Addr) string {
	if !a.IsValid() {
		return "(none)"
	}
	return a.String()
}

func list[T any](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
