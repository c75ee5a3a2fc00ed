package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"sync"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/sched"
)

// Deps are the service's dependencies.
type Deps struct {
	Logger *zap.Logger // nil: no logging
	// Level is the process's log level, which SetLogLevel changes; nil: SetLogLevel answers
	// FailedPrecondition.
	Level *zap.AtomicLevel
	// Scheduler runs the tasks that read the RIB's tables (required for ListPath, GetTable).
	Scheduler *sched.Scheduler
	// Now is the wall clock for ages and uptimes; nil: time.Now.
	Now func() time.Time
	// MaxMsgSize bounds received and sent gRPC messages; 0: 16 MiB.
	MaxMsgSize int
	// MaxWalks bounds the table walks running at once for ListPath and GetTable; more
	// requests wait for a slot (or their deadline). 0: 4.
	MaxWalks int
	// WatchBuffer is how many events a WatchEvent stream may have queued before the watcher
	// is cut off as too slow; 0: 1024.
	WatchBuffer int
	// PollInterval is how often WatchEvent samples peer states; 0: 100 ms.
	PollInterval time.Duration
	// TLS, when set, serves the API over TLS (see LoadTLS; with ClientCAs, mutual TLS);
	// nil: plain TCP, for loopback.
	TLS *tls.Config
}

// Service implements the GoBGP v3 gRPC API (apipb.GobgpApiServer) on a bgp.Server and its
// RIB. The RPCs it does not implement answer codes.Unimplemented with a sentence naming the
// RPC (the interceptors rewrite the embedded defaults' messages).
//
// mu guards gs and members. Owner: the daemon. Cardinality: one per server. Lifetime: New to Stop; Stop
// withdraws the paths added through the API.
type Service struct {
	apipb.UnimplementedGobgpApiServer

	srv   *bgp.Server
	rib   *bgp.RIB
	deps  Deps
	log   *zap.Logger
	local *bgp.LocalOrigin
	born  time.Time     // when the service started: the age of local paths is at most this
	walks chan struct{} // a token per running table walk

	mu      sync.Mutex
	gs      *grpc.Server
	members map[netip.Addr]member // neighbors added as members of a peer group (group.go)
	stopped []netip.Addr          // peers StopBgp shut down; nil while BGP runs (admin.go)
}

// New returns a service for srv and rib; nothing listens until Serve.
func New(srv *bgp.Server, rib *bgp.RIB, deps Deps) *Service {
	if deps.Logger == nil {
		deps.Logger = zap.NewNop()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.MaxMsgSize <= 0 {
		deps.MaxMsgSize = 16 << 20
	}
	if deps.MaxWalks <= 0 {
		deps.MaxWalks = 4
	}
	if deps.WatchBuffer <= 0 {
		deps.WatchBuffer = 1024
	}
	if deps.PollInterval <= 0 {
		deps.PollInterval = 100 * time.Millisecond
	}
	s := &Service{srv: srv, rib: rib, deps: deps, log: deps.Logger, born: deps.Now(),
		walks: make(chan struct{}, deps.MaxWalks)}
	if rib != nil {
		s.local = rib.NewLocalOrigin()
	}
	return s
}

// Serve answers API calls on lis until Stop, over TLS when Deps.TLS is set. It returns nil
// after Stop.
func (s *Service) Serve(lis net.Listener) error {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.deps.MaxMsgSize),
		grpc.MaxSendMsgSize(s.deps.MaxMsgSize),
		grpc.UnaryInterceptor(unaryNames),
		grpc.StreamInterceptor(streamNames),
	}
	if s.deps.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.deps.TLS)))
	}
	gs := grpc.NewServer(opts...)
	apipb.RegisterGobgpApiServer(gs, s)
	s.mu.Lock()
	if s.gs != nil {
		s.mu.Unlock()
		return errors.New("api: already serving")
	}
	s.gs = gs
	s.mu.Unlock()
	s.log.Info("gRPC API listening", zap.Stringer("addr", lis.Addr()), zap.Bool("tls", s.deps.TLS != nil),
		zap.Bool("mutual_tls", s.deps.TLS != nil && s.deps.TLS.ClientCAs != nil))
	err := gs.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop ends every call and the listener, then withdraws the paths added through the API.
// Streams still running are cancelled; unary calls in progress finish.
func (s *Service) Stop() {
	s.mu.Lock()
	gs := s.gs
	s.mu.Unlock()
	if gs != nil {
		gs.Stop()
	}
	if s.local != nil {
		s.local.Close()
	}
}

// rpcName returns the method name of a full gRPC method ("/apipb.GobgpApi/ListVrf").
func rpcName(full string) string { return path.Base(full) }

// notImplemented is the status of an RPC fanout does not implement.
func notImplemented(full string) error {
	return status.Errorf(codes.Unimplemented, "fanout does not implement the GoBGP API call %s", rpcName(full))
}

// unaryNames rewrites the embedded defaults' Unimplemented answers into a sentence that names
// the RPC and says it is fanout that lacks it.
func unaryNames(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil && status.Code(err) == codes.Unimplemented && isDefault(err) {
		return nil, notImplemented(info.FullMethod)
	}
	return resp, err
}

func streamNames(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	if err != nil && status.Code(err) == codes.Unimplemented && isDefault(err) {
		return notImplemented(info.FullMethod)
	}
	return err
}

// isDefault reports whether err is the generated "method X not implemented" answer.
func isDefault(err error) bool {
	st, _ := status.FromError(err)
	var name string
	n, _ := fmt.Sscanf(st.Message(), "method %s not implemented", &name)
	return n == 1
}

// GetBgp returns the global configuration: AS, router id, listen port and addresses.
func (s *Service) GetBgp(ctx context.Context, _ *apipb.GetBgpRequest) (*apipb.GetBgpResponse, error) {
	cfg := s.srv.Config()
	g := &apipb.Global{Asn: cfg.AS, RouterId: cfg.RouterID.String(), ListenPort: int32(cfg.ListenPort)}
	if len(cfg.ListenAddrs) == 0 {
		g.ListenPort = -1 // gobgpd's way of saying it does not listen
	}
	for _, a := range cfg.ListenAddrs {
		g.ListenAddresses = append(g.ListenAddresses, a.String())
	}
	if cfg.ListenPort == 0 {
		// The port was chosen at Start: report the one bound.
		if as := s.srv.ListenAddrs(); len(as) > 0 {
			g.ListenPort = int32(as[0].Port())
		}
	}
	for _, f := range []*apipb.Family{ipv4UC, ipv6UC} {
		g.Families = append(g.Families, uint32(f.Afi)<<16|uint32(f.Safi))
	}
	return &apipb.GetBgpResponse{Global: g}, nil
}

// SetLogLevel sets the process's log level.
func (s *Service) SetLogLevel(ctx context.Context, req *apipb.SetLogLevelRequest) (*emptypb.Empty, error) {
	if s.deps.Level == nil {
		return nil, status.Error(codes.FailedPrecondition, "this fanout's log level is fixed: it was started without an adjustable level")
	}
	var l zapcore.Level
	switch req.GetLevel() {
	case apipb.SetLogLevelRequest_PANIC:
		l = zapcore.PanicLevel
	case apipb.SetLogLevelRequest_FATAL:
		l = zapcore.FatalLevel
	case apipb.SetLogLevelRequest_ERROR:
		l = zapcore.ErrorLevel
	case apipb.SetLogLevelRequest_WARN:
		l = zapcore.WarnLevel
	case apipb.SetLogLevelRequest_INFO:
		l = zapcore.InfoLevel
	case apipb.SetLogLevelRequest_DEBUG, apipb.SetLogLevelRequest_TRACE:
		l = zapcore.DebugLevel // zap has no trace level
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown log level %d", req.GetLevel())
	}
	s.deps.Level.SetLevel(l)
	s.log.Info("log level set through the API", zap.Stringer("level", l))
	return &emptypb.Empty{}, nil
}

func zapAddr(a netip.Addr) zap.Field { return zap.Stringer("peer", a) }
