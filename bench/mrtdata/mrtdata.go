// Package mrtdata reads the real routing data in ../shared/data/mrt (RFC 6396 MRT files:
// RIB dumps and BGP4MP update streams) for tests and benchmarks: RIB entries become
// UPDATE messages a peer could have sent, so they go through fanout's real decode path.
//
// It reads MRT with GoBGP's pkg/packet/mrt, which is allowed in tests and benchmarks; the
// daemon never imports bench packages.
package mrtdata

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"
)

// Dir returns the shared MRT folder, ../shared/data/mrt beside the repository that holds
// the working directory. A missing folder is an error: CI has shared/ beside the repository.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("mrtdata: no go.mod above the working directory")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "data", "mrt")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return "", fmt.Errorf("mrtdata: the shared MRT folder %s is missing; shared/ must sit beside the repository", d)
	}
	return d, nil
}

// Path returns the path of a file under the shared MRT folder, e.g. Path("rib", name).
func Path(elem ...string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{d}, elem...)...), nil
}

// Open opens a .gz, .bz2 or plain MRT file for reading, decompressing as it goes.
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	in := bufio.NewReaderSize(f, 1<<16)
	switch {
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(in)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return readCloser{zr, func() error { zr.Close(); return f.Close() }}, nil
	case strings.HasSuffix(path, ".bz2"):
		return readCloser{bzip2.NewReader(in), f.Close}, nil
	}
	return readCloser{in, f.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// maxRecord bounds one MRT record, so a corrupt length cannot ask for gigabytes.
const maxRecord = 1 << 24

// Records streams the MRT records of a file to fn, in order, until fn returns false or an
// error, or the file ends (a truncated last record ends it quietly). Each body is a fresh
// slice fn may keep (GoBGP's parsed records alias it).
func Records(path string, fn func(h *mrt.MRTHeader, body []byte) (bool, error)) error {
	rc, err := Open(path)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 1<<20)
	hdr := make([]byte, mrt.MRT_COMMON_HEADER_LEN)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		var h mrt.MRTHeader
		if err := h.DecodeFromBytes(hdr); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if h.Len > maxRecord {
			return fmt.Errorf("%s: MRT record of %d bytes", path, h.Len)
		}
		body := make([]byte, h.Len)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil
		}
		more, err := fn(&h, body)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !more {
			return nil
		}
	}
}

// Route is one RIB entry of a dump, as the UPDATE message its peer would send: header and
// body, with 4-octet AS numbers.
type Route struct {
	Peer   netip.Addr
	PeerAS uint32
	Msg    []byte
}

// Body returns the UPDATE body after the 19-byte header.
func (r Route) Body() []byte { return r.Msg[19:] }

// ReadRIB reads a TABLE_DUMP_V2 RIB dump (IPv4 and IPv6 unicast) and returns up to max
// routes (all when max <= 0), in file order.
func ReadRIB(path string, max int) ([]Route, error) {
	var peers []*mrt.Peer
	var out []Route
	err := Records(path, func(h *mrt.MRTHeader, body []byte) (bool, error) {
		if h.Type != mrt.TABLE_DUMPv2 {
			return true, nil
		}
		st := mrt.MRTSubTypeTableDumpv2(h.SubType)
		if st != mrt.PEER_INDEX_TABLE && st != mrt.RIB_IPV4_UNICAST && st != mrt.RIB_IPV6_UNICAST {
			return true, nil
		}
		m, err := mrt.ParseMRTBody(h, body)
		if err != nil {
			return false, err
		}
		switch b := m.Body.(type) {
		case *mrt.PeerIndexTable:
			peers = b.Peers
		case *mrt.Rib:
			for _, e := range b.Entries {
				if int(e.PeerIndex) >= len(peers) {
					continue
				}
				msg, err := ribUpdate(b.Prefix, e.PathAttributes)
				if err != nil {
					continue // an entry GoBGP cannot re-encode is left out
				}
				p := peers[e.PeerIndex]
				a, _ := netip.AddrFromSlice(p.IpAddress)
				out = append(out, Route{Peer: a.Unmap(), PeerAS: p.AS, Msg: msg})
				if max > 0 && len(out) >= max {
					return false, nil
				}
			}
		}
		return true, nil
	})
	return out, err
}

// ribUpdate builds the UPDATE carrying one RIB entry: IPv4 in the NLRI field, IPv6 in an
// MP_REACH_NLRI rebuilt from the dump's abbreviated one (RFC 6396 §4.3.4).
func ribUpdate(prefix bgp.AddrPrefixInterface, attrs []bgp.PathAttributeInterface) ([]byte, error) {
	var pas []bgp.PathAttributeInterface
	var v6 *bgp.IPv6AddrPrefix
	if p, ok := prefix.(*bgp.IPv6AddrPrefix); ok {
		v6 = p
	}
	for _, a := range attrs {
		if mp, ok := a.(*bgp.PathAttributeMpReachNLRI); ok {
			if v6 == nil {
				continue
			}
			pas = append(pas, bgp.NewPathAttributeMpReachNLRI(mp.Nexthop.String(), []bgp.AddrPrefixInterface{v6}))
			continue
		}
		pas = append(pas, a)
	}
	var m *bgp.BGPMessage
	if v6 != nil {
		m = bgp.NewBGPUpdateMessage(nil, pas, nil)
	} else {
		v4, ok := prefix.(*bgp.IPAddrPrefix)
		if !ok {
			return nil, errors.New("mrtdata: unsupported prefix type")
		}
		m = bgp.NewBGPUpdateMessage(nil, pas, []*bgp.IPAddrPrefix{v4})
	}
	return m.Serialize()
}

// Update is one UPDATE message of a BGP4MP update stream.
type Update struct {
	Time uint32 // seconds, from the MRT header
	Peer netip.Addr
	AS4  bool   // the session used 4-octet AS numbers (BGP4MP_MESSAGE_AS4)
	Msg  []byte // header and body
}

// ReadUpdates reads the UPDATE messages of a BGP4MP or BGP4MP_ET file, up to max (all
// when max <= 0).
func ReadUpdates(path string, max int) ([]Update, error) {
	var out []Update
	err := Records(path, func(h *mrt.MRTHeader, body []byte) (bool, error) {
		if u, ok := BGP4MP(h, body); ok {
			out = append(out, u)
		}
		return max <= 0 || len(out) < max, nil
	})
	return out, err
}

// BGP4MP returns the UPDATE a BGP4MP or BGP4MP_ET MESSAGE(_AS4) record carries, with its
// time; ok is false for any other record.
func BGP4MP(h *mrt.MRTHeader, body []byte) (Update, bool) {
	switch h.Type {
	case mrt.BGP4MP:
	case mrt.BGP4MP_ET:
		if len(body) < 4 {
			return Update{}, false
		}
		body = body[4:] // microseconds (RFC 6396 §3)
	default:
		return Update{}, false
	}
	var as4 bool
	switch mrt.MRTSubTypeBGP4MP(h.SubType) {
	case mrt.MESSAGE:
	case mrt.MESSAGE_AS4:
		as4 = true
	default:
		return Update{}, false
	}
	u, ok := bgp4mp(body, as4)
	u.Time = h.Timestamp
	return u, ok
}

// bgp4mp strips the BGP4MP message header (RFC 6396 §4.4.2, §4.4.3) and keeps UPDATEs.
func bgp4mp(b []byte, as4 bool) (Update, bool) {
	asLen := 2
	if as4 {
		asLen = 4
	}
	off := 2*asLen + 2 // peer AS, local AS, interface index
	if len(b) < off+2 {
		return Update{}, false
	}
	afi := binary.BigEndian.Uint16(b[off:])
	off += 2
	alen := 4
	if afi == 2 {
		alen = 16
	} else if afi != 1 {
		return Update{}, false
	}
	if len(b) < off+2*alen+19 {
		return Update{}, false
	}
	peer, _ := netip.AddrFromSlice(b[off : off+alen])
	msg := b[off+2*alen:]
	l := int(binary.BigEndian.Uint16(msg[16:]))
	if msg[18] != 2 || l < 19 || l > len(msg) {
		return Update{}, false
	}
	return Update{Peer: peer, AS4: as4, Msg: append([]byte(nil), msg[:l]...)}, true
}
