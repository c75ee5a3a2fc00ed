package config

import (
	"net/netip"
	"slices"
	"time"
)

// Config is one complete, validated fanout configuration: what Load, LoadBytes, LoadDefault
// and Default return. It is plain data: building one starts nothing and holds no viper state.
//
// Owner: the caller that loaded it. The daemon keeps the running Config and replaces it as a
// whole on reload (it never edits one in place), so a Config may be read from any goroutine.
// Cardinality: one running Config per daemon, plus one candidate during a reload.
type Config struct {
	// Global is gobgpd's `global` table.
	Global Global
	// Neighbors are gobgpd's `neighbors`, each with its peer group's settings and gobgpd's
	// defaults already resolved into it. Addresses are unique. File order is kept.
	Neighbors []Neighbor
	// PeerGroups are gobgpd's `peer-groups`, with defaults applied. Names are unique.
	PeerGroups []PeerGroup
	// DynamicNeighbors are gobgpd's `dynamic-neighbors`: ranges of addresses accepted as
	// passive peers of a peer group. Each group named here exists and sets peer-as.
	DynamicNeighbors []DynamicNeighbor
	// Vrfs are gobgpd's `vrfs`. Names and ids are unique; ids are assigned as gobgpd does
	// when the file gives none.
	Vrfs []Vrf
	// Fanout holds what gobgpd has no word for (the `fanout` table).
	Fanout Fanout
	// Instances is `fanout.instances`: network instances' kernel settings (instances.go).
	Instances []Instance
}

// Global is gobgpd's `global.config`: the speaker's own identity and listener.
type Global struct {
	// AS is `global.config.as` (required, 1 to 4294967295, not AS_TRANS 23456).
	AS uint32
	// RouterID is `global.config.router-id` (required, a non-zero IPv4 address).
	RouterID netip.Addr
	// Port is `global.config.port`, the BGP listen port: 179 when not set, -1 for no listener
	// (fanout then only connects out), as in gobgpd.
	Port int
	// LocalAddresses is `global.config.local-address-list`, the addresses the BGP listener
	// binds: 0.0.0.0 and :: when not set, as in gobgpd.
	LocalAddresses []netip.Addr
}

// Neighbor is one configured BGP peer (gobgpd's `neighbors[]`) with its effective settings:
// its peer group's settings, overridden by every key the neighbor sets itself, then gobgpd's
// defaults for what neither sets.
type Neighbor struct {
	// Address is `config.neighbor-address` (required, unique). IPv6 link-local addresses
	// carry their zone (fe80::1%eth0).
	Address netip.Addr
	// PeerGroup is `config.peer-group`: the name of the group this neighbor inherits from,
	// or "".
	PeerGroup string
	// AdminDown is `config.admin-down`: configured but not started.
	AdminDown bool
	// Vrf is `config.vrf`: the name of the vrf (in vrfs) the neighbor is bound to, a PE-CE
	// session whose IPv4/IPv6 unicast routes go into and come from that vrf's tables; ""
	// for the global tables.
	Vrf string
	PeerSettings
}

// PeerGroup is gobgpd's `peer-groups[]`: settings shared by its member neighbors and by the
// peers accepted through a dynamic-neighbor range. Defaults are applied; afi-safis stay empty
// unless the group lists them (a member then gets the default for its address family).
type PeerGroup struct {
	// Name is `config.peer-group-name` (required, unique).
	Name string
	PeerSettings
}

// PeerSettings are the settings a neighbor may inherit from its peer group. Key names are
// relative to the neighbor or peer group (`timers.config.hold-time`).
type PeerSettings struct {
	// PeerAS is `config.peer-as`. A neighbor's own value wins over its group's.
	PeerAS uint32
	// Description is `config.description`.
	Description string
	// AuthPassword is `config.auth-password`: the TCP MD5 key (RFC 2385), at most 80 bytes.
	AuthPassword string
	Timers       Timers
	Transport    Transport
	// AfiSafis is `afi-safis`: a neighbor's own list replaces its group's as a whole. A
	// neighbor that has none gets the unicast family of its address, as in gobgpd.
	AfiSafis        []AfiSafi
	AddPaths        AddPaths
	RouteReflector  RouteReflector
	RouteServer     RouteServer
	GracefulRestart GracefulRestart
	EbgpMultihop    EbgpMultihop
	TTLSecurity     TTLSecurity
}

// Timers is `timers.config`. gobgpd writes seconds; fanout keeps durations.
type Timers struct {
	// HoldTime is `hold-time`: 90s when not set; 0 or a whole number of seconds from 3 to
	// 65535 (RFC 4271 4.2).
	HoldTime time.Duration
	// KeepaliveInterval is `keepalive-interval`: a third of the hold time when not set; at
	// most the hold time; at least 1s unless the hold time is 0.
	KeepaliveInterval time.Duration
	// ConnectRetry is `connect-retry`: 120s when not set; at least 1s.
	ConnectRetry time.Duration
}

// Transport is `transport.config`.
type Transport struct {
	// LocalAddress is `local-address`: the source address for the session. The zero Addr
	// (gobgpd's 0.0.0.0 or ::) lets the kernel choose.
	LocalAddress netip.Addr
	// PassiveMode is `passive-mode`: only accept, never connect out.
	PassiveMode bool
	// RemotePort is `remote-port`: the port to connect to, 179 when not set.
	RemotePort uint16
}

// AfiSafiName is an address family name in gobgpd's spelling.
type AfiSafiName string

// The address families fanout supports.
const (
	IPv4Unicast      AfiSafiName = "ipv4-unicast"
	IPv6Unicast      AfiSafiName = "ipv6-unicast"
	L3VPNIPv4Unicast AfiSafiName = "l3vpn-ipv4-unicast"
	L3VPNIPv6Unicast AfiSafiName = "l3vpn-ipv6-unicast"
)

// SupportedAfiSafis lists the families fanout accepts in `afi-safis[].config.afi-safi-name`.
var SupportedAfiSafis = []AfiSafiName{IPv4Unicast, IPv6Unicast, L3VPNIPv4Unicast, L3VPNIPv6Unicast}

// AfiSafi is one entry of `afi-safis`: a family negotiated with the peer and its per-family
// options.
type AfiSafi struct {
	// Name is `config.afi-safi-name` (required, one of SupportedAfiSafis, no duplicates).
	Name AfiSafiName
	// Enabled is `config.enabled`: true when not set, as in gobgpd.
	Enabled     bool
	PrefixLimit PrefixLimit
	// AddPaths is `add-paths.config`; each key not set here comes from the neighbor's
	// `add-paths.config`, as in gobgpd.
	AddPaths AddPaths
	// MpGracefulRestart is `mp-graceful-restart.config.enabled`: advertise graceful restart
	// for this family.
	MpGracefulRestart bool
	// LongLivedGracefulRestart is `long-lived-graceful-restart.config` (RFC 9494).
	LongLivedGracefulRestart LongLivedGracefulRestart
}

// PrefixLimit is `prefix-limit.config`.
type PrefixLimit struct {
	// MaxPrefixes is `max-prefixes`; 0 means no limit.
	MaxPrefixes uint32
	// ShutdownThresholdPct is `shutdown-threshold-pct` (0 to 100): warn at this share of the
	// limit.
	ShutdownThresholdPct uint8
	// RestartTimer is `restart-timer`: how long to wait before restarting a session closed
	// by the limit; 0 means never.
	RestartTimer time.Duration
}

// AddPaths is `add-paths.config` (RFC 7911).
type AddPaths struct {
	// Receive is `receive`: accept several paths per prefix.
	Receive bool
	// SendMax is `send-max`: send up to this many paths per prefix (0: do not send).
	SendMax uint8
}

// LongLivedGracefulRestart is an afi-safi's `long-lived-graceful-restart.config`.
type LongLivedGracefulRestart struct {
	Enabled bool
	// RestartTime is `restart-time` in seconds on the wire (at most 16777215); kept as a
	// duration.
	RestartTime time.Duration
}

// RouteReflector is `route-reflector.config` (RFC 4456).
type RouteReflector struct {
	// Client is `route-reflector-client`; only for iBGP neighbors.
	Client bool
	// ClusterID is `route-reflector-cluster-id`, given as an IPv4 address or a 32-bit
	// number as in gobgpd; for a client that sets none it is the global router-id.
	ClusterID netip.Addr
}

// RouteServer is `route-server.config` (RFC 7947).
type RouteServer struct {
	// Client is `route-server-client`.
	Client bool
}

// GracefulRestart is `graceful-restart.config` (RFC 4724, RFC 8538, RFC 9494).
type GracefulRestart struct {
	Enabled bool
	// RestartTime is `restart-time` (at most 4095s): the hold time when graceful restart is
	// enabled and it is not set, as in gobgpd.
	RestartTime time.Duration
	// HelperOnly is `helper-only`.
	HelperOnly bool
	// DeferralTime is `deferral-time`: 360s when graceful restart is enabled and it is not
	// set, as in gobgpd.
	DeferralTime time.Duration
	// NotificationEnabled is `notification-enabled` (RFC 8538).
	NotificationEnabled bool
	// LongLivedEnabled is `long-lived-enabled` (RFC 9494).
	LongLivedEnabled bool
}

// EbgpMultihop is `ebgp-multihop.config`.
type EbgpMultihop struct {
	Enabled bool
	// MultihopTTL is `multihop-ttl`: 255 when enabled and not set.
	MultihopTTL uint8
}

// TTLSecurity is `ttl-security.config` (GTSM, RFC 5082).
type TTLSecurity struct {
	Enabled bool
	// TTLMin is `ttl-min`: 255 when enabled and not set.
	TTLMin uint8
}

// DynamicNeighbor is `dynamic-neighbors[]`: peers whose address falls in Prefix are accepted
// passively with the settings of PeerGroup.
type DynamicNeighbor struct {
	// Prefix is `config.prefix`, masked (10.0.0.1/8 becomes 10.0.0.0/8). Unique.
	Prefix netip.Prefix
	// PeerGroup is `config.peer-group`; the group exists and sets peer-as.
	PeerGroup string
}

// Vrf is `vrfs[]`: a VPN routing instance.
type Vrf struct {
	// Name is `config.name` (required, unique).
	Name string
	// ID is `config.id`: unique; when not set, the smallest id not taken, as in gobgpd.
	ID uint32
	// RD is `config.rd` (required).
	RD RouteDistinguisher
	// ImportRTs is `config.import-rt-list`, or `config.both-rt-list` when that is not set.
	ImportRTs []RouteTarget
	// ExportRTs is `config.export-rt-list`, or `config.both-rt-list` when that is not set.
	ExportRTs []RouteTarget
}

// Fanout is the `fanout` table: settings gobgpd has no word for.
type Fanout struct {
	// Partitions is `fanout.partitions`: how many partitions each table has (1 to 1024);
	// the number of CPUs when not set.
	Partitions int
	// Workers is `fanout.workers`: scheduler worker goroutines (1 to 1024); GOMAXPROCS when
	// not set.
	Workers int
	// HTTPAddress is `fanout.http-address`: metrics and diagnostics listener,
	// 127.0.0.1:9179 when not set. Port 0 picks a free port.
	HTTPAddress netip.AddrPort
	// GRPCAddress is `fanout.grpc-address`: the GoBGP v3 API listener, 127.0.0.1:50051 when
	// not set. Port 0 picks a free port.
	GRPCAddress netip.AddrPort
	// RouteReconcileInterval is `fanout.route-reconcile-interval`: how often network
	// instances compare kernel routes with what they installed; 0 disables; 60s when not set.
	RouteReconcileInterval time.Duration
	// Sync is `fanout.sync`: pacing of initial table walks after sessions come up.
	Sync Sync
	// LogLevel is `fanout.log-level`: debug, info, warn or error; info when not set.
	LogLevel string
	// MemoryLimit is `fanout.memory-limit` in bytes, for the Go runtime's soft memory limit;
	// 0 (the default) sets none.
	MemoryLimit int64
	// MemoryCeiling is `fanout.memory-ceiling` in bytes: over it, announcements from the
	// peers holding more than their share of routes are refused (treated as withdrawn) and
	// counted; over an eighth more, everyone's. 0 (the default): no ceiling.
	MemoryCeiling int64
	// Admission is `fanout.admission`: limits on incoming connections before BGP is spoken.
	Admission Admission
}

// Admission is the `fanout.admission` table. Zero values take the server's defaults.
type Admission struct {
	// PerSourceBurst is `per-source-burst`: connection attempts one source address may make
	// at once (1 to 1048576); 32 when not set.
	PerSourceBurst int
	// PerSourceInterval is `per-source-interval`: one more attempt per source after the
	// burst every this long (up to 1h); 250ms when not set.
	PerSourceInterval time.Duration
	// MaxUnestablished is `max-unestablished`: accepted connections not yet Established
	// (1 to 1048576); 512 when not set.
	MaxUnestablished int
}

// Sync is `fanout.sync`: how a storm of returning peers is paced.
type Sync struct {
	// MaxConcurrentWalks is `max-concurrent-walks`: initial table walks running at once
	// (1 to 1024); 4 when not set.
	MaxConcurrentWalks int
	// MaxStartDelay is `max-start-delay`: a walk starts after a random delay up to this
	// (0 to 10m); 100ms when not set.
	MaxStartDelay time.Duration
}

// Defaults that are not gobgpd's.
const (
	DefaultHTTPAddress            = "127.0.0.1:9179"
	DefaultGRPCAddress            = "127.0.0.1:50051"
	DefaultRouteReconcileInterval = 60 * time.Second
	DefaultMaxConcurrentWalks     = 4
	DefaultMaxStartDelay          = 100 * time.Millisecond
	DefaultLogLevel               = "info"
)

// gobgpd's defaults (pkg/config/oc/default.go).
const (
	defaultHoldTime     = 90 * time.Second
	defaultConnectRetry = 120 * time.Second
	defaultPort         = 179
	defaultDeferralTime = 360 * time.Second
	defaultTTL          = 255
)

// Neighbor returns the configured neighbor with address a.
func (c *Config) Neighbor(a netip.Addr) (Neighbor, bool) {
	for _, n := range c.Neighbors {
		if n.Address == a {
			return n, true
		}
	}
	return Neighbor{}, false
}

// PeerGroup returns the peer group called name.
func (c *Config) PeerGroup(name string) (PeerGroup, bool) {
	for _, g := range c.PeerGroups {
		if g.Name == name {
			return g, true
		}
	}
	return PeerGroup{}, false
}

// DynamicPeer returns the effective settings for a peer connecting from a that is not a
// configured neighbor: the longest dynamic-neighbor prefix containing a chooses the peer
// group, and the peer gets that group's settings with the unicast family of a when the group
// lists no afi-safis. It reports false when no range contains a.
func (c *Config) DynamicPeer(a netip.Addr) (Neighbor, bool) {
	best := -1
	for i, d := range c.DynamicNeighbors {
		if d.Prefix.Contains(a.WithZone("")) && (best < 0 || d.Prefix.Bits() > c.DynamicNeighbors[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return Neighbor{}, false
	}
	g, ok := c.PeerGroup(c.DynamicNeighbors[best].PeerGroup)
	if !ok {
		return Neighbor{}, false
	}
	n := Neighbor{Address: a, PeerGroup: g.Name, PeerSettings: g.PeerSettings.clone()}
	if len(n.AfiSafis) == 0 {
		n.AfiSafis = []AfiSafi{{Name: unicastFor(a), Enabled: true, AddPaths: n.AddPaths}}
	}
	return n, true
}

// IBGP reports whether the neighbor is in the local AS.
func (n *Neighbor) IBGP(g *Global) bool { return n.PeerAS == g.AS }

// AfiSafi returns the neighbor's entry for family name.
func (s *PeerSettings) AfiSafi(name AfiSafiName) (AfiSafi, bool) {
	for _, a := range s.AfiSafis {
		if a.Name == name {
			return a, true
		}
	}
	return AfiSafi{}, false
}

func (s PeerSettings) clone() PeerSettings {
	s.AfiSafis = slices.Clone(s.AfiSafis)
	return s
}

func unicastFor(a netip.Addr) AfiSafiName {
	if a.Unmap().Is4() {
		return IPv4Unicast
	}
	return IPv6Unicast
}
