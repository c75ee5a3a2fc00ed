package bgp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// ServerConfig is the server-wide configuration: who fanout is and where it listens. It is a
// plain value; the config package fills it from gobgpd-style files, tests build it directly.
type ServerConfig struct {
	AS       uint32
	RouterID netip.Addr // BGP identifier, an IPv4-shaped value (RFC 6286)
	// ListenAddrs are the addresses to accept BGP connections on; empty means none (a
	// server with only active peers). ListenPort 0 picks a free port per address (tests);
	// read the chosen ones with Server.ListenAddrs.
	ListenAddrs []netip.Addr
	ListenPort  uint16
	// Admission limits incoming connection attempts (admission.go).
	Admission AdmissionConfig
	// Memory is the memory ceiling (memlimit.go).
	Memory MemoryConfig
	// Restarting: this start is a graceful restart of fanout (RFC 4724 §4.1): OPENs carry
	// the Restart State bit until RestartDone.
	Restarting bool
}

// MaxPrefixes is a peer's prefix limit (RFC 4486 §4, Cease subcode 1).
type MaxPrefixes struct {
	Limit        int           // prefixes held in the Adj-RIB-In before the session is closed; 0: no limit
	WarnPct      int           // log a warning once the count reaches this percentage of Limit; 0: 75
	RestartAfter time.Duration // restart the session this long after a cease; 0: stay down until EnablePeer
}

// GracefulRestartConfig is what fanout announces in the Graceful Restart capability (RFC
// 4724 §3). fanout is a helper only: it never claims to have preserved forwarding state.
type GracefulRestartConfig struct {
	Enabled     bool
	RestartTime time.Duration // announced Restart Time; 0: 120 s
	// Notification announces the N bit (RFC 8538): with a peer that announces it too, a
	// NOTIFICATION other than Cease / Hard Reset also keeps routes for the restart.
	Notification bool
	// StaleTime bounds how long a restarted peer's stale routes wait for its End-of-RIB;
	// 0: 360 s.
	StaleTime time.Duration
	// LongLived lists the families under long-lived graceful restart (RFC 9494) with the
	// long-lived stale time fanout announces for each (GRFamily.StaleTime, seconds).
	LongLived []proto.GRFamily
}

// PeerConfig is one configured neighbor. It is a plain value; AddPeer copies it.
type PeerConfig struct {
	Addr       netip.Addr // the neighbor's address: incoming connections are matched on it
	PeerAS     uint32
	LocalAS    uint32     // 0: the server's AS
	LocalAddr  netip.Addr // source of outgoing connections; zero: the server's only listen address, if any
	RemotePort uint16     // port dialled; 0: 179
	Passive    bool       // never initiate connections

	HoldTime        time.Duration // proposed hold time; 0: 90 s; negative: 0 (no keepalives)
	KeepaliveTime   time.Duration // 0: a third of the negotiated hold time
	ConnectRetry    time.Duration // 0: 120 s (RFC 4271 §10)
	MaxConnectRetry time.Duration // cap of the connect-retry back-off (doubling per failed retry); 0: 8 × ConnectRetry; negative: no back-off
	OpenHoldTime    time.Duration // hold time while waiting for the OPEN; 0: 4 min
	IdleHoldTime    time.Duration // first damping delay after a session failure (doubles per failure); 0: 5 s; negative: none
	MaxIdleHoldTime time.Duration // cap of the damping delay; 0: 2 min
	SendHoldTime    time.Duration // RFC 9687; 0: max(8 min, 2 × hold time)

	Families       []proto.Family // announced in the Multiprotocol capability; empty: IPv4 unicast
	AddPathReceive []proto.Family // families for which fanout announces ADD-PATH receive (RFC 7911)
	AddPathSend    []AddPathSend  // families for which fanout announces ADD-PATH send, with how many paths
	// RefreshInterval is the least time between two re-advertisements of one family the
	// peer can cause with ROUTE-REFRESH (refresh.go); 0: 1 s; negative: no minimum.
	RefreshInterval time.Duration
	ExtendedMessage bool // announce RFC 8654 extended messages
	GracefulRestart GracefulRestartConfig
	HasRole         bool // announce Role (RFC 9234)
	Role            proto.Role
	StrictRole      bool // refuse a peer that does not announce a role (RFC 9234 §4.2 strict mode)

	// VRF, when not "", binds the peer to the VRF of that name (a PE-CE session): its
	// unicast routes go into and come from the VRF's tables (vrfpeer.go).
	VRF string

	RRClient  bool       // route-reflector client (RFC 4456)
	RSClient  bool       // route-server client (RFC 7947)
	ClusterID netip.Addr // route-reflector cluster id; zero: the router id

	MaxPrefixes     MaxPrefixes
	AdminDown       bool // start disabled (EnablePeer starts it)
	SendBufferLimit int  // bulk bytes queued to the peer before SendBulk refuses; 0: 4 MiB
	// StripUnknownAttrs drops unknown optional transitive attributes from what the peer is
	// sent, instead of passing them on with the Partial bit (RFC 4271 §5, §9).
	StripUnknownAttrs bool

	// Session protection (sockopt_linux.go). AuthPassword is the TCP MD5 key (RFC 2385) of
	// the peer's connections, at most 80 bytes; it is never logged nor shown. TTLSecurity
	// (GTSM, RFC 5082), when not 0, is the lowest TTL / hop limit accepted from the peer
	// (255: directly connected) and makes fanout send with 255. MultihopTTL, when not 0,
	// is the TTL fanout sends with (ebgp-multihop); 0 leaves the system default.
	AuthPassword string
	TTLSecurity  uint8
	MultihopTTL  uint8
}

// withDefaults returns c with every zero duration and list replaced by its default.
func (c PeerConfig) withDefaults(s *ServerConfig) PeerConfig {
	if c.LocalAS == 0 {
		c.LocalAS = s.AS
	}
	if !c.LocalAddr.IsValid() && len(s.ListenAddrs) == 1 && !s.ListenAddrs[0].IsUnspecified() {
		c.LocalAddr = s.ListenAddrs[0]
	}
	if c.RemotePort == 0 {
		c.RemotePort = 179
	}
	switch {
	case c.HoldTime == 0:
		c.HoldTime = 90 * time.Second
	case c.HoldTime < 0:
		c.HoldTime = 0
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = 120 * time.Second
	}
	switch {
	case c.MaxConnectRetry == 0:
		c.MaxConnectRetry = 8 * c.ConnectRetry
	case c.MaxConnectRetry < 0:
		c.MaxConnectRetry = 0
	}
	switch {
	case c.IdleHoldTime == 0:
		c.IdleHoldTime = 5 * time.Second
	case c.IdleHoldTime < 0:
		c.IdleHoldTime = 0
	}
	if c.MaxIdleHoldTime == 0 {
		c.MaxIdleHoldTime = 2 * time.Minute
	}
	switch {
	case c.RefreshInterval == 0:
		c.RefreshInterval = time.Second
	case c.RefreshInterval < 0:
		c.RefreshInterval = 0
	}
	if c.SendHoldTime == 0 {
		c.SendHoldTime = max(8*time.Minute, 2*c.HoldTime)
	}
	if len(c.Families) == 0 {
		c.Families = []proto.Family{proto.IPv4Unicast}
	}
	if c.GracefulRestart.Enabled && c.GracefulRestart.RestartTime == 0 {
		c.GracefulRestart.RestartTime = 120 * time.Second
	}
	if c.MaxPrefixes.WarnPct == 0 {
		c.MaxPrefixes.WarnPct = 75
	}
	return c
}

// validate reports configuration mistakes AddPeer refuses.
func (c *PeerConfig) validate() error {
	switch {
	case !c.Addr.IsValid():
		return fmt.Errorf("peer: no address")
	case c.PeerAS == 0:
		return fmt.Errorf("peer %v: no peer AS", c.Addr)
	case c.HoldTime > 0 && c.HoldTime < 3*time.Second:
		return fmt.Errorf("peer %v: hold time %v is below 3 s (RFC 4271 §4.2)", c.Addr, c.HoldTime)
	case c.HoldTime > 65535*time.Second:
		return fmt.Errorf("peer %v: hold time %v does not fit the OPEN", c.Addr, c.HoldTime)
	case c.MaxPrefixes.Limit < 0:
		return fmt.Errorf("peer %v: negative prefix limit", c.Addr)
	case len(c.AuthPassword) > maxMD5KeyLen:
		return fmt.Errorf("peer %v: auth password is %d bytes, more than %d (RFC 2385 key)", c.Addr, len(c.AuthPassword), maxMD5KeyLen)
	case c.TTLSecurity != 0 && c.MultihopTTL != 0:
		return fmt.Errorf("peer %v: ttl security and multihop TTL exclude each other (RFC 5082 sends with 255)", c.Addr)
	}
	for _, f := range c.Families {
		if !f.Supported() {
			return fmt.Errorf("peer %v: unsupported family %v", c.Addr, f)
		}
	}
	return nil
}

// fsmConfig returns the FSM's session attributes for c (defaults applied).
func (c *PeerConfig) fsmConfig() FSMConfig {
	return FSMConfig{
		HoldTime:            c.HoldTime,
		KeepaliveTime:       c.KeepaliveTime,
		ConnectRetryTime:    c.ConnectRetry,
		MaxConnectRetryTime: c.MaxConnectRetry,
		OpenHoldTime:        c.OpenHoldTime,
		Passive:             c.Passive,
		IdleHoldTime:        c.IdleHoldTime,
		MaxIdleHoldTime:     c.MaxIdleHoldTime,
	}
}
