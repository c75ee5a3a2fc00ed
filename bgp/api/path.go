package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// unicastTable returns the table of an API family, which must be IPv4 or IPv6 unicast.
func (s *Service) unicastTable(what string, f *apipb.Family) (*rib.Table, proto.Family, error) {
	if f == nil {
		return nil, proto.Family{}, status.Errorf(codes.InvalidArgument, "%s: no address family given", what)
	}
	fam := fanoutFamily(f)
	switch fam {
	case proto.IPv4Unicast, proto.IPv6Unicast:
		return s.rib.Table(fam), fam, nil
	case proto.VPNv4, proto.VPNv6:
		return nil, fam, status.Errorf(codes.Unimplemented, "%s: family %s is not served through the API yet (only ipv4-unicast and ipv6-unicast)", what, fam)
	}
	return nil, fam, status.Errorf(codes.InvalidArgument, "%s: family %s is not supported by fanout",
		what, gobgp.AfiSafiToRouteFamily(uint16(f.GetAfi()), uint8(f.GetSafi())))
}

// ListPath streams the destinations of the global table (best path marked) or of one
// neighbor's Adj-RIB-In, sorted by prefix, optionally filtered by prefixes.
func (s *Service) ListPath(req *apipb.ListPathRequest, stream apipb.GobgpApi_ListPathServer) error {
	ctx := stream.Context()
	t, fam, err := s.unicastTable("ListPath", req.GetFamily())
	if status.Code(err) == codes.Unimplemented && (fam == proto.VPNv4 || fam == proto.VPNv6) {
		// VPN tables are listed whole (the CLI's global rib -a vpnv4); filters by prefix and
		// RD are not served yet.
		if len(req.GetPrefixes()) > 0 {
			return status.Errorf(codes.Unimplemented, "ListPath: prefix filters on %s are not implemented", fam)
		}
		t, err = s.rib.Table(fam), nil
	}
	if err != nil {
		return err
	}
	snap := pathsOf(nil)
	adjIn := false
	switch req.GetTableType() {
	case apipb.TableType_GLOBAL:
	case apipb.TableType_ADJ_IN:
		a, err := peerAddr("ListPath adj-in", req.GetName())
		if err != nil {
			return err
		}
		p := s.srv.Lookup(a)
		if p == nil {
			return status.Errorf(codes.NotFound, "ListPath adj-in: no neighbor %v is configured", a)
		}
		if v := p.Config().VRF; v != "" {
			// A neighbor bound to a VRF: its routes are in the VRF's tables.
			if t, err = s.vrfTable(v, fam); err != nil {
				return err
			}
		}
		adjIn = true
		snap = pathsOf(func(p *rib.Path) bool { return !p.Src.Local && p.Src.Addr == a })
	case apipb.TableType_ADJ_OUT:
		if snap, err = s.adjOut(ctx, req.GetName(), fam); err != nil {
			return err
		}
		adjIn = true // no best-path mark: the listing shows what the neighbor is sent
		if snap == nil {
			return nil // not established: nothing is advertised
		}
	case apipb.TableType_LOCAL:
		// A route-server client's local RIB (gobgp neighbor X local): without per-client
		// policies it is what the client is sent, each route its best.
		out, err := s.adjOut(ctx, req.GetName(), fam)
		if err != nil {
			return err
		}
		if out == nil {
			return nil
		}
		snap = func(c *sched.Ctx, e *rib.DBEntry) (destSnap, bool) {
			d, ok := out(c, e)
			if ok && len(d.paths) > 0 {
				d.paths[0].best = true
			}
			return d, ok
		}
	case apipb.TableType_VRF:
		if t, err = s.vrfTable(req.GetName(), fam); err != nil {
			return err
		}
	default:
		return status.Errorf(codes.InvalidArgument, "ListPath: unknown table type %d", req.GetTableType())
	}
	dests, err := s.selectDests(ctx, t, fam, req.GetPrefixes(), snap)
	if err != nil {
		return err
	}
	cv := newConverter(s, fam)
	for i := range dests {
		d, err := cv.destination(&dests[i], adjIn)
		if err != nil {
			return err
		}
		if err := stream.Send(&apipb.ListPathResponse{Destination: d}); err != nil {
			return err
		}
		dests[i] = destSnap{} // let what was sent go
	}
	return nil
}

// selectDests reads the destinations the prefix filters select (all without filters),
// sorted by prefix and without duplicates.
func (s *Service) selectDests(ctx context.Context, t *rib.Table, fam proto.Family, filters []*apipb.TableLookupPrefix, keep snapFunc) ([]destSnap, error) {
	if len(filters) == 0 {
		return s.walkTable(ctx, t, nil, keep)
	}
	var out []destSnap
	for _, f := range filters {
		if f.GetRd() != "" {
			return nil, status.Errorf(codes.InvalidArgument, "ListPath: a route distinguisher (%q) does not apply to %s", f.GetRd(), fam)
		}
		pfx, host, err := parseLookup(fam, f.GetPrefix())
		if err != nil {
			return nil, err
		}
		var ds []destSnap
		switch typ := f.GetType(); {
		case typ == apipb.TableLookupPrefix_LONGER:
			ds, err = s.walkTable(ctx, t, func(p netip.Prefix) bool { return p.Bits() >= pfx.Bits() && pfx.Contains(p.Addr()) }, keep)
		case typ == apipb.TableLookupPrefix_SHORTER:
			ds, err = s.lookup(ctx, t, coveringKeys(pfx), keep)
		case typ == apipb.TableLookupPrefix_EXACT && host:
			// An address without a length: the longest prefix holding it, as gobgpd answers.
			ds, err = s.lookup(ctx, t, coveringKeys(pfx), keep)
			if len(ds) > 1 {
				ds = ds[len(ds)-1:]
			}
		case typ == apipb.TableLookupPrefix_EXACT:
			ds, err = s.lookup(ctx, t, []rib.Key{rib.MakeKey(pfx, proto.RD{})}, keep)
		default:
			return nil, status.Errorf(codes.InvalidArgument, "ListPath: unknown lookup type %d", typ)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	slices.SortFunc(out, func(a, b destSnap) int { return comparePrefix(a.prefix, b.prefix) })
	return slices.CompactFunc(out, func(a, b destSnap) bool { return a.prefix == b.prefix }), nil
}

// parseLookup parses a lookup prefix of fam; host reports an address without a length.
func parseLookup(fam proto.Family, s string) (netip.Prefix, bool, error) {
	var pfx netip.Prefix
	host := !strings.Contains(s, "/")
	if host {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return pfx, false, status.Errorf(codes.InvalidArgument, "ListPath: %q is neither a prefix nor an address", s)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	} else {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return pfx, false, status.Errorf(codes.InvalidArgument, "ListPath: %q is not a prefix: %v", s, err)
		}
		pfx = p.Masked()
	}
	if pfx.Addr().Zone() != "" || pfx.Addr().Is4() != (fam.AFI == proto.AFIIPv4) || pfx.Addr().Is4In6() {
		return pfx, false, status.Errorf(codes.InvalidArgument, "ListPath: %q is not an address of %s", s, fam)
	}
	return pfx, host, nil
}

// coveringKeys returns the keys of every prefix that covers pfx, shortest first.
func coveringKeys(pfx netip.Prefix) []rib.Key {
	keys := make([]rib.Key, 0, pfx.Bits()+1)
	for l := 0; l <= pfx.Bits(); l++ {
		p, _ := pfx.Addr().Prefix(l)
		keys = append(keys, rib.MakeKey(p, proto.RD{}))
	}
	return keys
}

// converter turns path copies into API paths; decoded attribute sets are shared by the
// paths that carry the same set (bounded: the cache is emptied when full).
type converter struct {
	s     *Service
	fam   proto.Family
	attrs map[string][]gobgp.PathAttributeInterface
	ages  map[*rib.Source]time.Time
}

const attrCacheLen = 4096

func newConverter(s *Service, fam proto.Family) *converter {
	return &converter{s: s, fam: fam, attrs: map[string][]gobgp.PathAttributeInterface{}, ages: map[*rib.Source]time.Time{}}
}

func (cv *converter) destination(d *destSnap, adjIn bool) (*apipb.Destination, error) {
	out := &apipb.Destination{Prefix: d.prefix.String()}
	if cv.vpn() {
		out.Prefix = d.rd.String() + ":" + d.prefix.String() // as gobgpd prints a VPN prefix
	}
	for i := range d.paths {
		p, err := cv.path(d, &d.paths[i])
		if err != nil {
			return nil, err
		}
		if adjIn {
			p.Best = false
		}
		out.Paths = append(out.Paths, p)
	}
	return out, nil
}

// age is the path's age as far as fanout knows it: the RIB keeps no arrival time, so a
// peer's path is shown as old as its session (it cannot be older), a local path as old as
// the API service.
func (cv *converter) age(src *rib.Source) time.Time {
	if t, ok := cv.ages[src]; ok {
		return t
	}
	t := cv.s.born
	if !src.Local {
		if st, ok := cv.s.srv.Peer(src.Addr); ok && !st.EstablishedSince.IsZero() {
			t = st.EstablishedSince
		} else {
			t = cv.s.deps.Now()
		}
	}
	cv.ages[src] = t
	return t
}

// vpn reports whether the converter's family is VPNv4 or VPNv6.
func (cv *converter) vpn() bool { return cv.fam == proto.VPNv4 || cv.fam == proto.VPNv6 }

func (cv *converter) path(d *destSnap, ps *pathSnap) (*apipb.Path, error) {
	pfx := d.prefix
	nlri := nlriOf(pfx)
	if cv.vpn() {
		var err error
		if nlri, err = vpnNLRIOf(pfx, d.rd, ps.label); err != nil {
			return nil, status.Errorf(codes.Internal, "VPN prefix %v of RD %v does not convert: %v", pfx, d.rd, err)
		}
	}
	nlri.SetPathIdentifier(ps.id)
	attrs, ok := cv.attrs[ps.wire]
	if !ok {
		var err error
		if attrs, err = decodeWire(ps.wire); err != nil {
			return nil, status.Errorf(codes.Internal, "stored attributes of %v do not decode: %v", pfx, err)
		}
		if len(cv.attrs) >= attrCacheLen {
			clear(cv.attrs)
		}
		cv.attrs[ps.wire] = attrs
	}
	all := make([]gobgp.PathAttributeInterface, 0, len(attrs)+1)
	all = append(all, attrs...)
	if ps.nh.IsValid() {
		if cv.fam == proto.IPv4Unicast && ps.nh.Is4() {
			all = append(all, gobgp.NewPathAttributeNextHop(ps.nh.String()))
		} else {
			all = append(all, gobgp.NewPathAttributeMpReachNLRI(ps.nh.String(), []gobgp.AddrPrefixInterface{nlri}))
		}
	}
	slices.SortStableFunc(all, func(a, b gobgp.PathAttributeInterface) int { return cmp.Compare(a.GetType(), b.GetType()) })
	p, err := apiutil.NewPath(nlri, false, all, cv.age(ps.src))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "path of %v does not convert: %v", pfx, err)
	}
	p.Best = ps.best
	p.Identifier = ps.id
	p.Stale = ps.flags&(rib.FlagStale|rib.FlagLLGRStale) != 0
	p.IsNexthopInvalid = ps.flags&rib.FlagNextHopUnreachable != 0
	p.Filtered = ps.flags&rib.FlagASLoop != 0
	if ps.src.Local {
		p.SourceId = "0.0.0.0"
		p.NeighborIp = "<nil>"
	} else {
		p.SourceAsn = ps.src.AS
		p.SourceId = ps.src.RouterID.String()
		p.NeighborIp = ps.src.Addr.String()
		p.IsFromExternal = ps.src.EBGP
	}
	return p, nil
}

// vpnNLRIOf returns GoBGP's NLRI of a VPN prefix with route distinguisher rd and label.
func vpnNLRIOf(pfx netip.Prefix, rd proto.RD, label rib.Label) (gobgp.AddrPrefixInterface, error) {
	grd, err := gobgp.ParseRouteDistinguisher(rd.String())
	if err != nil {
		return nil, err
	}
	var labels []uint32
	if label.IsSet() {
		labels = []uint32{label.Value()}
	}
	stack := *gobgp.NewMPLSLabelStack(labels...)
	if pfx.Addr().Is4() {
		return gobgp.NewLabeledVPNIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String(), stack, grd), nil
	}
	return gobgp.NewLabeledVPNIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String(), stack, grd), nil
}

// nlriOf returns GoBGP's NLRI of an IP prefix.
func nlriOf(pfx netip.Prefix) gobgp.AddrPrefixInterface {
	if pfx.Addr().Is4() {
		return gobgp.NewIPAddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
	}
	return gobgp.NewIPv6AddrPrefix(uint8(pfx.Bits()), pfx.Addr().String())
}

// decodeWire decodes fanout's canonical attribute encoding (4-octet AS numbers, no
// NEXT_HOP, no MP attributes) into GoBGP's attribute types.
func decodeWire(wire string) ([]gobgp.PathAttributeInterface, error) {
	b := []byte(wire)
	var out []gobgp.PathAttributeInterface
	for len(b) > 0 {
		if len(b) < 3 {
			return nil, errors.New("truncated attribute header")
		}
		hl, l := 3, int(b[2])
		if gobgp.BGPAttrFlag(b[0])&gobgp.BGP_ATTR_FLAG_EXTENDED_LENGTH != 0 {
			if len(b) < 4 {
				return nil, errors.New("truncated attribute header")
			}
			hl, l = 4, int(b[2])<<8|int(b[3])
		}
		if hl+l > len(b) {
			return nil, fmt.Errorf("attribute %d longer than the encoding", b[1])
		}
		a, err := gobgp.GetPathAttribute(b[:hl+l])
		if err != nil {
			return nil, err
		}
		if err := a.DecodeFromBytes(b[:hl+l]); err != nil {
			return nil, fmt.Errorf("attribute %d: %w", b[1], err)
		}
		out = append(out, a)
		b = b[hl+l:]
	}
	return out, nil
}

// routeOf validates an API path's family, prefix and attributes (as GoBGP's library reads
// them) and returns them.
func (s *Service) routeOf(what string, p *apipb.Path) (proto.Family, gobgp.AddrPrefixInterface, []gobgp.PathAttributeInterface, error) {
	if p == nil {
		return proto.Family{}, nil, nil, status.Errorf(codes.InvalidArgument, "%s: no path given", what)
	}
	_, fam, err := s.unicastTable(what, p.GetFamily())
	if err != nil {
		return fam, nil, nil, err
	}
	if err := checkAPIPrefix(p); err != nil {
		return fam, nil, nil, status.Errorf(codes.InvalidArgument, "%s: bad prefix: %v", what, err)
	}
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return fam, nil, nil, status.Errorf(codes.InvalidArgument, "%s: bad prefix: %v", what, err)
	}
	if nlri == nil {
		return fam, nil, nil, status.Errorf(codes.InvalidArgument, "%s: the path has no prefix", what)
	}
	if af, sf := nlri.AFI(), nlri.SAFI(); af != uint16(fam.AFI) || sf != uint8(fam.SAFI) {
		return fam, nil, nil, status.Errorf(codes.InvalidArgument, "%s: the prefix %s is not of family %s", what, nlri, fam)
	}
	if err := checkPrefix(nlri); err != nil {
		return fam, nil, nil, status.Errorf(codes.InvalidArgument, "%s: bad prefix %s: %v", what, nlri, err)
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return fam, nil, nil, status.Errorf(codes.InvalidArgument, "%s: bad path attribute: %v", what, err)
	}
	return fam, nlri, attrs, nil
}

// checkAPIPrefix checks an IP prefix as the client sent it, before GoBGP's library masks it:
// the length fits the address and no host bit is set.
func checkAPIPrefix(p *apipb.Path) error {
	if p.GetNlri() == nil {
		return nil
	}
	var ip apipb.IPAddressPrefix
	if p.GetNlri().MessageIs(&ip) {
		if err := p.GetNlri().UnmarshalTo(&ip); err != nil {
			return err
		}
		a, err := netip.ParseAddr(ip.GetPrefix())
		if err != nil {
			return fmt.Errorf("%q is not an address", ip.GetPrefix())
		}
		if int(ip.GetPrefixLen()) > a.BitLen() {
			return fmt.Errorf("length %d is longer than a %d-bit address", ip.GetPrefixLen(), a.BitLen())
		}
		pfx := netip.PrefixFrom(a, int(ip.GetPrefixLen()))
		if pfx.Masked() != pfx {
			return fmt.Errorf("%v has host bits set (the prefix is %v)", pfx, pfx.Masked())
		}
	}
	return nil
}

// checkPrefix refuses a prefix whose length exceeds its address or with host bits set.
func checkPrefix(n gobgp.AddrPrefixInterface) error {
	pfx, err := netip.ParsePrefix(n.String())
	if err != nil {
		return err
	}
	if pfx.Masked() != pfx {
		return fmt.Errorf("host bits are set (the prefix is %v)", pfx.Masked())
	}
	return nil
}

// AddPath originates a path in the global table or a VRF's (vrf.go). It is encoded as an
// UPDATE and validated as one from a peer: a bad prefix or attribute answers
// InvalidArgument with the reason and nothing reaches the RIB.
func (s *Service) AddPath(ctx context.Context, req *apipb.AddPathRequest) (*apipb.AddPathResponse, error) {
	lo, err := s.originOf("AddPath", req.GetTableType(), req.GetVrfId())
	if err != nil {
		return nil, err
	}
	if err := s.addPath(ctx, "AddPath", lo, req.GetPath()); err != nil {
		return nil, err
	}
	return &apipb.AddPathResponse{}, nil
}

// AddPathStream originates the paths of a stream of requests (`gobgp mrt inject global`),
// each validated as by AddPath. An invalid path ends the stream with InvalidArgument naming
// it; the paths before it stay.
func (s *Service) AddPathStream(stream apipb.GobgpApi_AddPathStreamServer) error {
	ctx := stream.Context()
	n := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&emptypb.Empty{})
		}
		if err != nil {
			return err
		}
		if req.GetTableType() != apipb.TableType_GLOBAL {
			return status.Errorf(codes.Unimplemented, "AddPathStream to the %v table is not implemented: only the global table", req.GetTableType())
		}
		for _, p := range req.GetPaths() {
			if err := s.addPath(ctx, "AddPathStream", s.local, p); err != nil {
				st, _ := status.FromError(err)
				// The CLI (mrt inject) does not read the answer: say it in the log too.
				s.log.Warn("AddPathStream ended on an invalid path", zap.Int("added", n), zap.String("reason", st.Message()))
				return status.Errorf(st.Code(), "path %d of the stream: %s (the %d before it were added)", n, st.Message(), n)
			}
			n++
		}
	}
}

// addPath validates one path and hands it to the local origin lo.
func (s *Service) addPath(ctx context.Context, what string, lo *bgp.LocalOrigin, path *apipb.Path) error {
	fam, nlri, attrs, err := s.routeOf(what, path)
	if err != nil {
		return err
	}
	if path.GetIsWithdraw() {
		return status.Errorf(codes.InvalidArgument, "%s: the path is marked as a withdrawal; use DeletePath", what)
	}
	var enc []byte
	var nlris []byte
	sawMP, sawASPath := false, false
	for _, a := range attrs {
		if a.GetType() == gobgp.BGP_ATTR_TYPE_AS_PATH {
			sawASPath = true
		}
	}
	if !sawASPath {
		// RFC 4271 §5.1.2: a route this speaker originates carries an empty AS_PATH.
		attrs = append(attrs, gobgp.NewPathAttributeAsPath(nil))
	}
	for _, a := range attrs {
		switch a := a.(type) {
		case *gobgp.PathAttributeMpReachNLRI:
			if fam == proto.IPv4Unicast {
				return status.Errorf(codes.InvalidArgument, "%s: an ipv4-unicast path takes its next hop from NEXT_HOP, not MP_REACH_NLRI", what)
			}
			// Announce exactly the path's prefix with the attribute's next hop.
			nh := a.Nexthop
			if nh == nil {
				return status.Errorf(codes.InvalidArgument, "%s: MP_REACH_NLRI has no next hop", what)
			}
			mp := gobgp.NewPathAttributeMpReachNLRI(nh.String(), []gobgp.AddrPrefixInterface{nlri})
			if a.LinkLocalNexthop != nil {
				mp.LinkLocalNexthop = a.LinkLocalNexthop
			}
			b, err := mp.Serialize()
			if err != nil {
				return status.Errorf(codes.InvalidArgument, "%s: MP_REACH_NLRI: %v", what, err)
			}
			enc = append(enc, b...)
			sawMP = true
			continue
		case *gobgp.PathAttributeMpUnreachNLRI:
			return status.Errorf(codes.InvalidArgument, "%s: a path to add cannot carry MP_UNREACH_NLRI", what)
		case *gobgp.PathAttributeNextHop:
			if fam != proto.IPv4Unicast {
				return status.Errorf(codes.InvalidArgument, "%s: a %s path takes its next hop from MP_REACH_NLRI, not NEXT_HOP", what, fam)
			}
		}
		b, err := a.Serialize()
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "%s: attribute %v: %v", what, a.GetType(), err)
		}
		enc = append(enc, b...)
	}
	if fam == proto.IPv6Unicast && !sawMP {
		return status.Errorf(codes.InvalidArgument, "%s: an ipv6-unicast path needs MP_REACH_NLRI with its next hop", what)
	}
	if fam == proto.IPv4Unicast {
		if nlris, err = nlri.Serialize(); err != nil {
			return status.Errorf(codes.InvalidArgument, "%s: prefix %s: %v", what, nlri, err)
		}
	}
	return s.applyLocal(ctx, what, lo, updateBody(nil, enc, nlris))
}

// updateBody builds an UPDATE body from withdrawn routes, attributes and NLRI.
func updateBody(withdrawn, attrs, nlri []byte) []byte {
	b := make([]byte, 0, 4+len(withdrawn)+len(attrs)+len(nlri))
	b = append(b, byte(len(withdrawn)>>8), byte(len(withdrawn)))
	b = append(b, withdrawn...)
	b = append(b, byte(len(attrs)>>8), byte(len(attrs)))
	b = append(b, attrs...)
	return append(b, nlri...)
}

func (s *Service) applyLocal(ctx context.Context, what string, lo *bgp.LocalOrigin, body []byte) error {
	if lo == nil {
		return status.Errorf(codes.FailedPrecondition, "%s: this service has no RIB", what)
	}
	err := lo.Update(ctx, body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bgp.ErrInvalidRoute):
		var pe *proto.Error
		if errors.As(err, &pe) && pe.AttrType != 0 {
			return status.Errorf(codes.InvalidArgument, "%s: %v (attribute %d is %s)", what, err, pe.AttrType, gobgp.BGPAttrType(pe.AttrType))
		}
		return status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	case errors.Is(err, bgp.ErrLocalClosed):
		return status.Errorf(codes.Unavailable, "%s: the API is stopping", what)
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

// DeletePath withdraws a path originated through the API, or every such path of a family
// (of every family without one).
func (s *Service) DeletePath(ctx context.Context, req *apipb.DeletePathRequest) (*emptypb.Empty, error) {
	lo, err := s.originOf("DeletePath", req.GetTableType(), req.GetVrfId())
	if err != nil {
		return nil, err
	}
	if req.GetPath() == nil && lo != s.local {
		return nil, status.Error(codes.Unimplemented, "DeletePath of every path of a VRF is not implemented: give the path to delete")
	}
	if req.GetPath() == nil {
		if len(req.GetUuid()) > 0 {
			return nil, status.Error(codes.InvalidArgument, "DeletePath: fanout does not identify paths by UUID; give the path to delete")
		}
		if s.local == nil {
			return nil, status.Error(codes.FailedPrecondition, "DeletePath: this service has no RIB")
		}
		fams := []proto.Family{proto.IPv4Unicast, proto.IPv6Unicast}
		if req.GetFamily() != nil {
			_, fam, err := s.unicastTable("DeletePath", req.GetFamily())
			if err != nil {
				return nil, err
			}
			fams = []proto.Family{fam}
		}
		for _, fam := range fams {
			if err := s.local.Drop(ctx, fam); err != nil {
				return nil, status.Errorf(codes.Unavailable, "DeletePath: %v", err)
			}
		}
		return &emptypb.Empty{}, nil
	}
	fam, nlri, _, err := s.routeOf("DeletePath", req.GetPath())
	if err != nil {
		return nil, err
	}
	var body []byte
	if fam == proto.IPv4Unicast {
		w, err := nlri.Serialize()
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "DeletePath: prefix %s: %v", nlri, err)
		}
		body = updateBody(w, nil, nil)
	} else {
		b, err := gobgp.NewPathAttributeMpUnreachNLRI([]gobgp.AddrPrefixInterface{nlri}).Serialize()
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "DeletePath: prefix %s: %v", nlri, err)
		}
		body = updateBody(nil, b, nil)
	}
	if err := s.applyLocal(ctx, "DeletePath", lo, body); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// GetTable counts the destinations and paths of the global table or of a neighbor's
// Adj-RIB-In, with one low-priority walk.
func (s *Service) GetTable(ctx context.Context, req *apipb.GetTableRequest) (*apipb.GetTableResponse, error) {
	t, _, err := s.unicastTable("GetTable", req.GetFamily())
	if err != nil {
		return nil, err
	}
	var keep func(*rib.Path) bool
	switch req.GetTableType() {
	case apipb.TableType_GLOBAL:
	case apipb.TableType_ADJ_IN:
		a, err := peerAddr("GetTable adj-in", req.GetName())
		if err != nil {
			return nil, err
		}
		if s.srv.Lookup(a) == nil {
			return nil, status.Errorf(codes.NotFound, "GetTable adj-in: no neighbor %v is configured", a)
		}
		keep = func(p *rib.Path) bool { return !p.Src.Local && p.Src.Addr == a }
	default:
		return nil, status.Errorf(codes.Unimplemented, "GetTable of the %v table is not implemented", req.GetTableType())
	}
	type counts struct{ dests, paths, accepted uint64 }
	per := make([]counts, t.Partitions())
	err = s.walk(ctx, t, func(tc *sched.Ctx, e *rib.DBEntry) {
		c := &per[tc.Instance()]
		n := 0
		for _, p := range e.Data.Paths() {
			if keep != nil && !keep(&p) {
				continue
			}
			n++
			if p.Usable() {
				c.accepted++
			}
		}
		if n > 0 {
			c.dests++
			c.paths += uint64(n)
		}
	})
	if err != nil {
		return nil, err
	}
	var r apipb.GetTableResponse
	for _, c := range per {
		r.NumDestination += c.dests
		r.NumPath += c.paths
		r.NumAccepted += c.accepted
	}
	return &r, nil
}
