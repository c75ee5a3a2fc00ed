package proto

import (
	"sync"
	"testing"

	"github.com/fanoutd/fanout/bench/mrtdata"
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

// loadMRTUpdates returns up to max (all when max <= 0) UPDATE messages of an MRT file in
// the shared updates folder (BGP4MP MESSAGE and MESSAGE_AS4, plain or BGP4MP_ET; .gz and
// .bz2 decompressed). A missing shared folder fails the test: CI has it beside the repo.
func loadMRTUpdates(tb testing.TB, file string, max int) []mrtUpdate {
	tb.Helper()
	mrtCache.Lock()
	defer mrtCache.Unlock()
	ups, ok := mrtCache.files[file]
	if !ok {
		path, err := mrtdata.Path("updates", file)
		if err != nil {
			tb.Fatal(err)
		}
		read, err := mrtdata.ReadUpdates(path, 0)
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		if len(read) == 0 {
			tb.Fatalf("%s: no BGP4MP UPDATE messages", file)
		}
		for _, u := range read {
			ups = append(ups, mrtUpdate{Msg: u.Msg, AS4: u.AS4})
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
