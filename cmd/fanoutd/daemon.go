package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/bgp/api"
	"github.com/fanoutd/fanout/bgp/metrics"
	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/netinst"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// familyOf maps gobgpd's AFI/SAFI names to fanout's families.
var familyOf = map[config.AfiSafiName]proto.Family{
	config.IPv4Unicast:      proto.IPv4Unicast,
	config.IPv6Unicast:      proto.IPv6Unicast,
	config.L3VPNIPv4Unicast: proto.VPNv4,
	config.L3VPNIPv6Unicast: proto.VPNv6,
}

// serverConfig derives the BGP server's settings from a validated configuration.
func serverConfig(c *config.Config) bgp.ServerConfig {
	sc := bgp.ServerConfig{AS: c.Global.AS, RouterID: c.Global.RouterID,
		Admission: bgp.AdmissionConfig{PerSourceBurst: c.Fanout.Admission.PerSourceBurst,
			PerSourceInterval: c.Fanout.Admission.PerSourceInterval, MaxUnestablished: c.Fanout.Admission.MaxUnestablished},
		Memory: bgp.MemoryConfig{Ceiling: uint64(max(c.Fanout.MemoryCeiling, 0))},
	}
	if c.Global.Port >= 0 {
		sc.ListenPort = uint16(c.Global.Port)
		sc.ListenAddrs = c.Global.LocalAddresses
		if len(sc.ListenAddrs) == 0 {
			sc.ListenAddrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
		}
	}
	return sc
}

// unsupported refuses configuration for features this build does not have yet, naming the
// key, so that nothing an operator configured is silently ignored.
func unsupported(c *config.Config) error {
	var errs []error
	// Nothing the configuration accepts is refused by this build (dynamic-neighbors are
	// served since the bgp server accepts them: groups.go).
	return errors.Join(errs...)
}

// peerConfig derives one peer's session settings from its configuration (peer-group
// settings are already merged by config).
func peerConfig(c *config.Config, n *config.Neighbor) bgp.PeerConfig {
	pc := bgp.PeerConfig{
		Addr:          n.Address,
		PeerAS:        n.PeerAS,
		LocalAddr:     n.Transport.LocalAddress,
		RemotePort:    n.Transport.RemotePort,
		Passive:       n.Transport.PassiveMode,
		HoldTime:      n.Timers.HoldTime,
		KeepaliveTime: n.Timers.KeepaliveInterval,
		ConnectRetry:  n.Timers.ConnectRetry,
		RRClient:      n.RouteReflector.Client,
		ClusterID:     n.RouteReflector.ClusterID,
		RSClient:      n.RouteServer.Client,
		AdminDown:     n.AdminDown,
		AuthPassword:  n.AuthPassword,
		VRF:           n.Vrf,
		GracefulRestart: bgp.GracefulRestartConfig{
			Enabled:      n.GracefulRestart.Enabled,
			RestartTime:  n.GracefulRestart.RestartTime,
			Notification: n.GracefulRestart.NotificationEnabled,
		},
	}
	if n.Timers.HoldTime == 0 {
		pc.HoldTime = -1 // configured 0: no keepalives (RFC 4271 §4.2)
	}
	if n.TTLSecurity.Enabled {
		pc.TTLSecurity = max(n.TTLSecurity.TTLMin, 1) // config: 255 when not set
	}
	if n.EbgpMultihop.Enabled {
		pc.MultihopTTL = max(n.EbgpMultihop.MultihopTTL, 1)
	}
	for _, af := range n.AfiSafis {
		fam, ok := familyOf[af.Name]
		if !ok || !af.Enabled {
			continue
		}
		pc.Families = append(pc.Families, fam)
		if ll := af.LongLivedGracefulRestart; ll.Enabled && n.GracefulRestart.LongLivedEnabled {
			pc.GracefulRestart.LongLived = append(pc.GracefulRestart.LongLived,
				proto.GRFamily{Family: fam, StaleTime: uint32(ll.RestartTime / time.Second)})
		}
		if af.AddPaths.Receive || n.AddPaths.Receive {
			pc.AddPathReceive = append(pc.AddPathReceive, fam)
		}
		if af.AddPaths.SendMax > 0 {
			pc.AddPathSend = append(pc.AddPathSend, bgp.AddPathSend{Family: fam, Max: af.AddPaths.SendMax})
		}
		// The session counts prefixes of all families together: the limits add up.
		if l := af.PrefixLimit; l.MaxPrefixes > 0 {
			pc.MaxPrefixes.Limit += int(l.MaxPrefixes)
			pc.MaxPrefixes.WarnPct = int(l.ShutdownThresholdPct)
			pc.MaxPrefixes.RestartAfter = l.RestartTimer
		}
	}
	return pc
}

// daemon is one running fanoutd: scheduler, RIB, BGP server, the gRPC API and the metrics
// listener.
type daemon struct {
	log     *zap.Logger
	sched   *sched.Scheduler
	rib     *bgp.RIB
	srv     *bgp.Server
	api     *api.Service
	apiAddr net.Addr        // where the API listens
	apiDone chan error      // Serve's result
	metrics *metrics.Server // /metrics and /debug/fanout on fanout.http-address
	inst    *instances      // network instances (instances.go)
	// instMgr is the instance manager while it runs, read by the metrics listener.
	instMgr atomic.Pointer[netinst.Manager]
	cancel  context.CancelFunc
}

// options are the daemon's settings that come from flags rather than the configuration.
type options struct {
	level *zap.AtomicLevel // the process's log level, which SetLogLevel changes; nil: fixed
	tls   *tls.Config      // the API's TLS; nil: plain TCP
	pprof bool             // mount net/http/pprof on the metrics listener
	// restarting: this start is a graceful restart of fanout (-r; restart.go).
	restarting bool
	// kernel, when set, gives network instances this kernel per namespace instead of
	// netlink (tests).
	kernel func(netns string) (netinst.Kernel, error)
}

// start builds and starts everything a configuration describes.
func start(c *config.Config, log *zap.Logger) (*daemon, error) {
	return startWith(c, log, options{})
}

// startWith is start with the options flags give.
func startWith(c *config.Config, log *zap.Logger, o options) (*daemon, error) {
	if err := unsupported(c); err != nil {
		return nil, err
	}
	workers := c.Fanout.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	s, err := sched.New(sched.WithWorkers(workers))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{log: log, sched: s, cancel: cancel}
	d.rib, err = bgp.NewRIB(ctx, s, log.Named("rib"), bgp.RIBConfig{
		LocalAS: c.Global.AS, RouterID: c.Global.RouterID, Partitions: c.Fanout.Partitions,
		Pacing: bgp.PacingConfig{MaxWalks: c.Fanout.Sync.MaxConcurrentWalks, MaxDelay: c.Fanout.Sync.MaxStartDelay},
		VRFs:   vrfConfigs(c),
	})
	if err != nil {
		d.stop(context.Background())
		return nil, err
	}
	sc := serverConfig(c)
	sc.Restarting = o.restarting
	d.srv, err = bgp.New(sc, bgp.Deps{Logger: log.Named("bgp"), Scheduler: s, Routing: d.rib})
	if err != nil {
		d.stop(context.Background())
		return nil, err
	}
	if o.restarting {
		deferExport(c, d.rib, d.srv)
	}
	for i := range c.Neighbors {
		if err := d.srv.AddPeer(peerConfig(c, &c.Neighbors[i])); err != nil {
			d.stop(context.Background())
			return nil, fmt.Errorf("neighbors[%d] (%s): %w", i, c.Neighbors[i].Address, err)
		}
	}
	if err := syncGroups(d.srv, nil, c); err != nil { // peer-groups and dynamic-neighbors (groups.go)
		d.stop(context.Background())
		return nil, err
	}
	if err := d.srv.Start(); err != nil {
		d.stop(context.Background())
		return nil, err
	}
	if err := d.startAPI(c, o); err != nil {
		d.stop(context.Background())
		return nil, err
	}
	d.metrics, err = metrics.Start(metrics.Config{Addr: c.Fanout.HTTPAddress, Pprof: o.pprof},
		metrics.Deps{Logger: log.Named("metrics"), Server: d.srv, RIB: d.rib, Scheduler: s, Instances: d.instanceStatuses})
	if err != nil {
		d.stop(context.Background())
		return nil, fmt.Errorf("fanout.http-address %s: %w", c.Fanout.HTTPAddress, err)
	}
	if err := d.startInstances(c, o); err != nil {
		d.stop(context.Background())
		return nil, err
	}
	return d, nil
}

// startAPI serves the GoBGP v3 API on fanout.grpc-address.
func (d *daemon) startAPI(c *config.Config, o options) error {
	lis, err := net.Listen("tcp", c.Fanout.GRPCAddress.String())
	if err != nil {
		return fmt.Errorf("fanout.grpc-address %s: %w", c.Fanout.GRPCAddress, err)
	}
	d.apiAddr = lis.Addr()
	d.api = api.New(d.srv, d.rib, api.Deps{Logger: d.log.Named("api"), Level: o.level, Scheduler: d.sched, TLS: o.tls})
	d.apiDone = make(chan error, 1)
	go func() { d.apiDone <- d.api.Serve(lis) }()
	return nil
}

// stop closes the metrics listener, the API, the server (a Cease NOTIFICATION to every
// established peer), then the scheduler, within ctx.
func (d *daemon) stop(ctx context.Context) error {
	var errs []error
	if d.metrics != nil {
		errs = append(errs, d.metrics.Close(ctx))
	}
	errs = append(errs, d.stopInstances(ctx))
	if d.api != nil {
		d.api.Stop()
		errs = append(errs, <-d.apiDone)
	}
	if d.srv != nil {
		errs = append(errs, d.srv.Close(ctx))
	}
	d.cancel()
	errs = append(errs, d.sched.Close(ctx))
	return errors.Join(errs...)
}

// stopTimeout bounds a clean shutdown.
const stopTimeout = 10 * time.Second
