package proto

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/mrt"
)

// mrtUpdate is one BGP UPDATE captured in an MRT file.
type mrtUpdate struct {
	Msg []byte // the whole BGP message: 19-byte header and body
	AS4 bool   // the session used 4-octet AS numbers (BGP4MP_MESSAGE_AS4, RFC 6396 §4.4.3)
}

// Body returns the message after the BGP header.
func (m mrtUpdate) Body() []byte { return m.Msg[HeaderLen:] }

// mrtCache keeps each file's UPDATEs once per test binary, for tests and benchmarks.
var mrtCache struct {
	sync.Mutex
	files map[string][]mrtUpdate
}

// mrtDir returns the shared MRT update folder, ../shared/data/mrt/updates beside the
// repository. A missing folder fails the test: CI has shared/ beside the repo.
func mrtDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no go.mod above the test directory")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "data", "mrt", "updates")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		tb.Fatalf("MRT test data folder %s is missing: the shared data folder must sit beside the repository (%v)", d, err)
	}
	return d
}

// loadMRTUpdates returns up to max (all when max <= 0) UPDATE messages of an MRT file in
// the shared updates folder, reading BGP4MP MESSAGE and MESSAGE_AS4 records, plain or
// with the extended-timestamp header (BGP4MP_ET). .gz and .bz2 files are decompressed.
func loadMRTUpdates(tb testing.TB, file string, max int) []mrtUpdate {
	tb.Helper()
	mrtCache.Lock()
	defer mrtCache.Unlock()
	ups, ok := mrtCache.files[file]
	if !ok {
		var err error
		ups, err = readMRTFile(filepath.Join(mrtDir(tb), file))
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		if len(ups) == 0 {
			tb.Fatalf("%s: no BGP4MP UPDATE messages", file)
		}
		if mrtCache.files == nil {
			mrtCache.files = map[string][]mrtUpdate{}
		}
		mrtCache.files[file] = ups
	}
	if max > 0 && len(ups) > max {
		ups = ups[:max]
	}
	return ups
}

func readMRTFile(path string) ([]mrtUpdate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var in io.Reader = bufio.NewReaderSize(f, 1<<16)
	switch {
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		in = zr
	case strings.HasSuffix(path, ".bz2"):
		in = bzip2.NewReader(in)
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	var out []mrtUpdate
	for len(data) >= mrt.MRT_COMMON_HEADER_LEN {
		var h mrt.MRTHeader
		if err := h.DecodeFromBytes(data); err != nil {
			return nil, err
		}
		end := mrt.MRT_COMMON_HEADER_LEN + int(h.Len)
		if end > len(data) {
			break // truncated last record
		}
		body := data[mrt.MRT_COMMON_HEADER_LEN:end]
		data = data[end:]
		switch h.Type {
		case mrt.BGP4MP:
		case mrt.BGP4MP_ET:
			if len(body) < 4 {
				continue
			}
			body = body[4:] // microsecond timestamp, RFC 6396 §3
		default:
			continue
		}
		var as4 bool
		switch mrt.MRTSubTypeBGP4MP(h.SubType) {
		case mrt.MESSAGE:
		case mrt.MESSAGE_AS4:
			as4 = true
		default:
			continue
		}
		if msg, ok := bgp4mpMessage(body, as4); ok {
			out = append(out, mrtUpdate{Msg: msg, AS4: as4})
		}
	}
	return out, nil
}

// bgp4mpMessage strips the BGP4MP header (RFC 6396 §4.4.2, §4.4.3) and returns the BGP
// message when it is an UPDATE.
func bgp4mpMessage(b []byte, as4 bool) ([]byte, bool) {
	r := NewReader(b)
	if as4 {
		r.Skip(8) // peer AS, local AS
	} else {
		r.Skip(4)
	}
	r.Skip(2) // interface index
	switch AFI(r.U16()) {
	case AFIIPv4:
		r.Skip(8)
	case AFIIPv6:
		r.Skip(32)
	default:
		return nil, false
	}
	msg := r.Rest()
	h := NewReader(msg)
	h.Skip(16)
	l := int(h.U16())
	typ := h.U8()
	if !h.Ok() || typ != MsgUpdate || l < HeaderLen || l > len(msg) {
		return nil, false
	}
	w := NewReader(msg)
	return append([]byte(nil), w.Bytes(l)...), true
}

func TestLoadMRTUpdates(t *testing.T) {
	for _, f := range []string{"updates.20070211.0141.routeviews-linx.gz", "updates.20151009.1230.routeviews-ipv6.bz2", "updates.et-header.2015.fulltable-1peer.gz"} {
		ups := loadMRTUpdates(t, f, 0)
		as4 := 0
		for _, u := range ups {
			if u.AS4 {
				as4++
			}
		}
		t.Logf("%s: %d UPDATEs, %d from 4-octet AS sessions", f, len(ups), as4)
	}
}
