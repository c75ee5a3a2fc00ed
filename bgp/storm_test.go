package bgp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// The reconnect storm (issue #8): speakers hold a table; many receivers connect in the same
// second and each must end with the whole table, while no session of anyone drops for
// hold-timer expiry. Receivers are spread over several export policies (per-receiver-group
// cluster ids), so their initial syncs are separate table walks and pacing matters.

// stormSize is one storm's shape.
type stormSize struct {
	speakers, prefixes, receivers, groups int
	hold                                  time.Duration
}

// stormResult is what a storm measured.
type stormResult struct {
	sync       time.Duration // first dial to the last receiver holding the whole table
	worstGap   time.Duration // the longest silence any peer saw from fanout while up
	worstKA    time.Duration // the longest interval between two KEEPALIVEs a peer saw
	flaps      uint64        // sessions that left Established
	walks      uint64        // sync walks started
	delayed    uint64        // walks that waited for a pacing slot
	heldRoutes int64         // routes held by all receivers together
	maxSent    int           // the most announcements one receiver got (the table, ideally)
}

// stormPrefix is the /24 of table index i.
func stormPrefix(i int) netip.Prefix {
	a := uint32(10<<24) + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), 0}), 24)
}

// stormIndex is the table index of a /24 made by stormPrefix, or -1.
func stormIndex(p netip.Prefix, n int) int {
	if p.Bits() != 24 || !p.Addr().Is4() {
		return -1
	}
	b := p.Addr().As4()
	i := int(binary.BigEndian.Uint32(b[:])-10<<24) >> 8
	if i < 0 || i >= n {
		return -1
	}
	return i
}

// stormPeer is one raw session of the storm: it keeps the session alive, measures what it
// hears from fanout, and (as a receiver) records the speaker of each prefix it holds.
type stormPeer struct {
	nc      net.Conn
	wmu     sync.Mutex
	table   []byte // per index: 1 + the speaker whose route it holds; 0: none
	held    atomic.Int64
	eor     atomic.Bool
	lastMsg time.Time
	lastKA  time.Time
	gap, ka time.Duration
	sent    int // prefixes announced to it, duplicates included
	err     error
	done    chan struct{}
}

func (p *stormPeer) write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := p.nc.Write(b)
	return err
}

// readMsg reads one whole message into buf.
func readMsg(r io.Reader, buf []byte) (uint8, []byte, error) {
	if _, err := io.ReadFull(r, buf[:proto.HeaderLen]); err != nil {
		return 0, nil, err
	}
	h, err := proto.ParseHeader(buf[:proto.HeaderLen], proto.MaxExtendedMessage)
	if err != nil {
		return 0, nil, err
	}
	if _, err := io.ReadFull(r, buf[proto.HeaderLen:h.Len]); err != nil {
		return 0, nil, err
	}
	return h.Type, buf[proto.HeaderLen:h.Len], nil
}

// dialStorm opens a session from local to srv and completes the OPEN exchange.
func dialStorm(local string, to netip.AddrPort, hold time.Duration, tableLen int) (*stormPeer, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", to.String())
	if err != nil {
		return nil, err
	}
	p := &stormPeer{nc: nc, done: make(chan struct{})}
	if tableLen > 0 {
		p.table = make([]byte, tableLen)
	}
	o := &proto.Open{Version: 4, AS: 65000, HoldTime: uint16(hold / time.Second), ID: netip.MustParseAddr(local)}
	o.Caps.HasAS4, o.Caps.AS4 = true, 65000
	o.Caps.Multiprotocol = []proto.Family{proto.IPv4Unicast}
	msg, err := proto.AppendOpen(nil, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := p.write(msg); err != nil {
		nc.Close()
		return nil, err
	}
	buf := make([]byte, proto.MaxExtendedMessage)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for _, want := range []uint8{proto.MsgOpen, proto.MsgKeepalive} {
		typ, _, err := readMsg(nc, buf)
		if err == nil && typ != want {
			err = fmt.Errorf("got message type %d, want %d", typ, want)
		}
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("%s: handshake: %w", local, err)
		}
	}
	nc.SetReadDeadline(time.Time{})
	if err := p.write(proto.AppendKeepalive(nil)); err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

// run reads until the connection closes and sends KEEPALIVEs every hold/3 meanwhile.
func (p *stormPeer) run(hold time.Duration) {
	defer close(p.done)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(hold / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if p.write(proto.AppendKeepalive(nil)) != nil {
					return
				}
			}
		}
	}()
	buf := make([]byte, proto.MaxExtendedMessage)
	opts := proto.SessionOptions{AS4: true}
	var u proto.Update
	var n proto.NLRI
	p.lastMsg, p.lastKA = time.Now(), time.Now()
	for {
		typ, body, err := readMsg(p.nc, buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
		now := time.Now()
		p.gap = max(p.gap, now.Sub(p.lastMsg))
		p.lastMsg = now
		switch typ {
		case proto.MsgKeepalive:
			p.ka = max(p.ka, now.Sub(p.lastKA))
			p.lastKA = now
		case proto.MsgNotification:
			var nt proto.Notification
			proto.DecodeNotification(body, &nt)
			p.err = fmt.Errorf("NOTIFICATION %s", nt.String())
			return
		case proto.MsgUpdate:
			if p.table == nil {
				continue
			}
			if err := proto.DecodeUpdate(body, &opts, &u); err != nil {
				p.err = err
				return
			}
			if _, eor := proto.EndOfRIB(&u); eor {
				p.eor.Store(true)
				continue
			}
			for it := u.IterWithdrawn(&opts); it.Next(&n); {
				// Nothing changes during a storm: a withdrawal is a fault.
				p.err = fmt.Errorf("%v withdrawn (after End-of-RIB: %v) in %x", n.Prefix, p.eor.Load(), body)
				if i := stormIndex(n.Prefix, len(p.table)); i >= 0 && p.table[i] != 0 {
					p.table[i] = 0
					p.held.Add(-1)
				}
			}
			spk := byte(0)
			if u.Attrs.Present.Has(proto.AttrNextHop) {
				spk = u.Attrs.NextHop.As4()[3]
			}
			if spk == 0 && len(u.NLRI) > 0 {
				p.err = fmt.Errorf("an announcement without NEXT_HOP: %x", body)
				return
			}
			for it := u.IterNLRI(&opts); it.Next(&n); {
				p.sent++
				if i := stormIndex(n.Prefix, len(p.table)); i >= 0 {
					if p.table[i] == 0 {
						p.held.Add(1)
					}
					p.table[i] = spk
				}
			}
		}
	}
}

// storm runs one storm against an in-process fanout with pacing pc.
func storm(t testing.TB, size stormSize, pc PacingConfig, net16 string) stormResult {
	t.Helper()
	_, s := newTestRIB(t, 0) // its scheduler; the storm's RIB has its own pacing
	rb, err := NewRIB(context.Background(), s, zap.NewNop(), RIBConfig{LocalAS: 65000, RouterID: addr("10.255.0.1"), Pacing: pc})
	if err != nil {
		t.Fatal(err)
	}
	fAddr := net16 + ".0.1"
	// Every receiver dials at once: the cap on unestablished connections is set for that,
	// as an operator expecting such storms sets fanout.admission.max-unestablished.
	srv, err := New(ServerConfig{AS: 65000, RouterID: addr("10.255.0.1"), ListenAddrs: []netip.Addr{addr(fAddr)},
		Admission: AdmissionConfig{MaxUnestablished: max(512, 2*size.receivers)}},
		Deps{Logger: zap.NewNop(), Scheduler: s, Routing: rb})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	to := srv.ListenAddrs()[0]
	spkAddr := func(i int) string { return fmt.Sprintf("%s.1.%d", net16, i+1) }
	rcvAddr := func(i int) string { return fmt.Sprintf("%s.%d.%d", net16, 2+i/200, i%200+1) }
	for i := range size.speakers {
		addPeer(t, srv, PeerConfig{Addr: addr(spkAddr(i)), PeerAS: 65000, RRClient: true, Passive: true, HoldTime: size.hold})
	}
	for i := range size.receivers {
		cl := netip.AddrFrom4([4]byte{10, 254, 0, byte(i % size.groups)})
		addPeer(t, srv, PeerConfig{Addr: addr(rcvAddr(i)), PeerAS: 65000, RRClient: true, Passive: true, HoldTime: size.hold, ClusterID: cl})
	}
	var peers []*stormPeer
	t.Cleanup(func() {
		for _, p := range peers {
			p.nc.Close()
			<-p.done
		}
	})

	// The speakers announce their blocks of the table.
	opts := proto.SessionOptions{AS4: true}
	per := size.prefixes / size.speakers
	for sp := range size.speakers {
		p, err := dialStorm(spkAddr(sp), to, size.hold, 0)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
		go p.run(size.hold)
		var a proto.Attrs
		for _, typ := range []uint8{proto.AttrOrigin, proto.AttrASPath, proto.AttrLocalPref, proto.AttrNextHop} {
			a.Present.Set(typ)
		}
		a.LocalPref = 100
		wire, err := proto.AppendAttrs(nil, &a, &opts)
		if err != nil {
			t.Fatal(err)
		}
		nh := proto.MPNextHop{Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(sp + 1)})}
		var b proto.UpdateBuilder
		var msg []byte
		for lo := sp * per; lo < (sp+1)*per; lo += 4000 {
			b.Reset(&opts)
			for i := lo; i < min(lo+4000, (sp+1)*per); i++ {
				b.Announce(proto.IPv4Unicast, wire, nh, proto.NLRI{Prefix: stormPrefix(i)})
			}
			if msg, err = b.AppendMessages(msg[:0]); err != nil {
				t.Fatal(err)
			}
			if err := p.write(msg); err != nil {
				t.Fatal(err)
			}
		}
		eor, _ := proto.AppendEndOfRIB(nil, proto.IPv4Unicast)
		if err := p.write(eor); err != nil {
			t.Fatal(err)
		}
	}
	total := per * size.speakers
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n := int64(0)
		for sp := range size.speakers {
			st, _ := srv.Peer(addr(spkAddr(sp)))
			n += st.Counters.PrefixesReceived
		}
		if n == int64(total) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the speakers' %d routes did not reach the RIB (%d)", total, n)
		}
	}

	// The storm: every receiver dials at once.
	start := time.Now()
	slots := make([]atomic.Pointer[stormPeer], size.receivers)
	var wg sync.WaitGroup
	errs := make(chan error, size.receivers)
	for i := range size.receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := dialStorm(rcvAddr(i), to, size.hold, total)
			if err != nil {
				errs <- err
				return
			}
			slots[i].Store(p)
			p.run(size.hold)
		}()
	}
	t.Cleanup(func() {
		for i := range slots {
			if p := slots[i].Load(); p != nil {
				p.nc.Close()
			}
		}
		wg.Wait()
	})
	deadline := time.Now().Add(120 * time.Second)
	for {
		select {
		case err := <-errs:
			t.Fatalf("receiver: %v", err)
		default:
		}
		all := true
		for i := range slots {
			if p := slots[i].Load(); p == nil || !p.eor.Load() || p.held.Load() != int64(total) {
				all = false
				break
			}
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("storm: not every receiver holds the %d routes after 120 s", total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := stormResult{sync: time.Since(start)}
	rcv := make([]*stormPeer, size.receivers)
	for i := range slots {
		rcv[i] = slots[i].Load()
	}
	for _, a := range append(peerAddrs(size.speakers, spkAddr), peerAddrs(size.receivers, rcvAddr)...) {
		st, _ := srv.Peer(addr(a))
		res.flaps += st.Flaps
		if st.State != Established {
			t.Errorf("peer %s is %v after the storm (last error %+v)", a, st.State, st.LastError)
		}
	}
	// Stop every peer, receivers first (a speaker closed first would have its routes
	// withdrawn from receivers still listening), then read what their goroutines measured.
	peers = append(rcv, peers...)
	for _, p := range peers {
		p.nc.Close()
		<-p.done
	}
	for _, p := range peers {
		if p.err != nil {
			t.Errorf("a peer saw %v", p.err)
		}
	}
	// Exactly the table: each prefix from the speaker whose block it is in.
	for ri, p := range rcv {
		for i, spk := range p.table {
			if want := byte(i/per + 1); spk != want {
				t.Fatalf("receiver %d holds prefix %v from speaker %d, want %d", ri, stormPrefix(i), spk, want)
			}
		}
		res.heldRoutes += p.held.Load()
		res.maxSent = max(res.maxSent, p.sent)
	}
	for _, p := range peers {
		res.worstGap = max(res.worstGap, p.gap)
		res.worstKA = max(res.worstKA, p.ka)
	}
	peers = nil
	ss := rb.SyncStats()
	res.walks, res.delayed = ss.Started, ss.Delayed
	return res
}

func peerAddrs(n int, f func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// TestStorm: 10 speakers hold 500k routes; 300 receivers in 10 export policies dial in the
// same second; with pacing (at most 4 walks at once, each after up to 100 ms) and without
// (every walk at once), in one run. Both must deliver every receiver the whole table
// with no session dropped; the log reports what each took and the worst silence a peer
// saw. Sized down under the race detector, whose overhead is not what is being measured.
func TestStorm(t *testing.T) {
	size := stormSize{speakers: 10, prefixes: 500_000, receivers: 300, groups: 10, hold: 30 * time.Second}
	if raceEnabled || testing.Short() {
		size = stormSize{speakers: 4, prefixes: 8_000, receivers: 40, groups: 8, hold: 30 * time.Second}
	}
	paced := storm(t, size, PacingConfig{MaxWalks: 4, MaxDelay: 100 * time.Millisecond}, "127.4")
	free := storm(t, size, PacingConfig{MaxWalks: -1}, "127.5")
	for _, c := range []struct {
		name string
		r    stormResult
	}{{"paced", paced}, {"unpaced", free}} {
		t.Logf("storm %d receivers x %d routes (%d policies), %s: all synced in %v; worst silence %v, worst KEEPALIVE interval %v; %d walks (%d waited); %d flaps",
			size.receivers, size.prefixes, size.groups, c.name, c.r.sync.Round(time.Millisecond), c.r.worstGap.Round(time.Millisecond),
			c.r.worstKA.Round(time.Millisecond), c.r.walks, c.r.delayed, c.r.flaps)
		if c.r.flaps != 0 {
			t.Errorf("%s: %d sessions dropped", c.name, c.r.flaps)
		}
		if c.r.heldRoutes != int64(size.receivers*size.prefixes) {
			t.Errorf("%s: receivers hold %d routes, want %d", c.name, c.r.heldRoutes, size.receivers*size.prefixes)
		}
		if c.r.maxSent != size.prefixes {
			t.Errorf("%s: a receiver was sent %d announcements for a table of %d: the same route more than once", c.name, c.r.maxSent, size.prefixes)
		}
		if c.r.worstGap >= size.hold {
			t.Errorf("%s: a peer heard nothing for %v, its hold time is %v", c.name, c.r.worstGap, size.hold)
		}
	}
	if paced.walks > 0 && paced.delayed == 0 {
		t.Errorf("paced storm: none of %d walks waited for a slot; the pacing did not engage", paced.walks)
	}
}

// BenchmarkStorm: the storm at 100, 300 and 1000 receivers (10 speakers, 500k routes, 10
// policies), paced. Reports the time until every receiver holds the table, the worst
// silence a peer saw, and the peak RSS of the test process (fanout and the in-process peers
// together: the receivers' tables are 500 kB each).
func BenchmarkStorm(b *testing.B) {
	for _, n := range []int{100, 300, 1000} {
		b.Run(fmt.Sprintf("receivers=%d", n), func(b *testing.B) {
			size := stormSize{speakers: 10, prefixes: 500_000, receivers: n, groups: 10, hold: 90 * time.Second}
			for i := 0; i < b.N; i++ {
				r := storm(b, size, PacingConfig{MaxWalks: 4, MaxDelay: 100 * time.Millisecond}, fmt.Sprintf("127.%d", 6+i%4))
				b.ReportMetric(r.sync.Seconds(), "s-to-sync")
				b.ReportMetric(r.worstGap.Seconds(), "s-worst-silence")
				b.ReportMetric(float64(peakRSS())/(1<<20), "MiB-peak-rss")
			}
		})
	}
}
