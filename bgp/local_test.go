package bgp

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/rib"
	"github.com/fanoutd/fanout/sched"
)

// Local routes go through the same Ingest as a peer's, from a Local source; an invalid
// UPDATE is refused whole (even what RFC 7606 would repair) and nothing reaches the RIB;
// Close withdraws everything.
func TestLocalOrigin(t *testing.T) {
	r, s := newTestRIB(t, 64)
	lo := r.NewLocalOrigin()
	if !lo.Source().Local || lo.Source().ID != LocalSourceID {
		t.Fatalf("local source %+v", lo.Source())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &proto.SessionOptions{AS4: true}
	pfx := netip.MustParsePrefix("10.9.0.0/16")
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.Present.Set(proto.AttrLocalPref) // an internal route carries LOCAL_PREF (RFC 7606 §7.5)
	a.LocalPref = 100
	attrs, err := proto.AppendAttrs(nil, &a, opts)
	if err != nil {
		t.Fatal(err)
	}
	good := updateMsgs(t, opts, func(b *proto.UpdateBuilder) {
		b.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: netip.MustParseAddr("192.0.2.1")}, proto.NLRI{Prefix: pfx})
	})[0]
	// The same message with ORIGIN's value changed to 7: RFC 7606 would treat it as a
	// withdrawal; locally it is an error.
	bad := append([]byte(nil), good...)
	for i := 4; i+3 < len(bad); i++ {
		if bad[i] == 0x40 && bad[i+1] == 1 && bad[i+2] == 1 {
			bad[i+3] = 7
			break
		}
	}
	if err := lo.Update(ctx, bad); !errors.Is(err, ErrInvalidRoute) {
		t.Fatalf("bad ORIGIN: %v", err)
	}
	if err := lo.Update(ctx, []byte{0, 0, 0, 9}); !errors.Is(err, ErrInvalidRoute) {
		t.Fatalf("truncated UPDATE: %v", err)
	}
	if n := lo.Counters().Received.Load(); n != 0 {
		t.Fatalf("%d paths after refused updates", n)
	}
	if err := lo.Update(ctx, good); err != nil {
		t.Fatal(err)
	}
	key := rib.MakeKey(pfx, proto.RD{})
	best := func() *rib.Source {
		var src *rib.Source
		inTask(t, s, func(c *sched.Ctx) {
			if e := r.Table(proto.IPv4Unicast).DB().Find(c, key); e != nil && e.Data.Best() != nil {
				src = e.Data.Best().Src
			}
		})
		return src
	}
	eventually(t, "the local path", func() bool { return best() == lo.Source() })
	lo.Close()
	eventually(t, "the local path withdrawn", func() bool { return best() == nil && lo.Counters().Received.Load() == 0 })
	if err := lo.Update(ctx, good); !errors.Is(err, ErrLocalClosed) {
		t.Fatalf("update after Close: %v", err)
	}
}
