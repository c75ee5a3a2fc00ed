package metrics

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bgp"
	"github.com/fanoutd/fanout/proto"
	"github.com/fanoutd/fanout/sched"
)

// waitLimit bounds every wait in these tests.
const waitLimit = 20 * time.Second

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// daemon is the real scheduler, RIB and BGP server, listening on addr.
func daemon(t *testing.T, addr netip.Addr) (*bgp.Server, *bgp.RIB, *sched.Scheduler) {
	t.Helper()
	s, err := sched.New(sched.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := bgp.NewRIB(ctx, s, zap.NewNop(), bgp.RIBConfig{LocalAS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bgp.New(bgp.ServerConfig{AS: 65000, RouterID: netip.MustParseAddr("10.255.0.1"), ListenAddrs: []netip.Addr{addr}},
		bgp.Deps{Logger: zap.NewNop(), Scheduler: s, Routing: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := srv.Close(c); err != nil {
			t.Error(err)
		}
		cancel()
		if err := s.Close(c); err != nil {
			t.Error(err)
		}
	})
	return srv, r, s
}

// announce sends n /32 prefixes 10.second.x.y from speaker sp with AS path [as].
func announce(t *testing.T, ctx context.Context, sp *gen.Session, as uint32, n int, second byte) {
	t.Helper()
	opts := &proto.SessionOptions{AS4: true}
	var a proto.Attrs
	a.Present.Set(proto.AttrOrigin)
	a.Present.Set(proto.AttrASPath)
	a.ASPath = proto.ASSeq(as)
	attrs, err := proto.AppendAttrs(nil, &a, opts)
	if err != nil {
		t.Fatal(err)
	}
	ns := make([]proto.NLRI, n)
	for i := range ns {
		ns[i].Prefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, second, byte(i >> 8), byte(i)}), 32)
	}
	var b proto.UpdateBuilder
	b.Reset(opts)
	b.Announce(proto.IPv4Unicast, attrs, proto.MPNextHop{Addr: netip.AddrFrom4([4]byte{198, 18, 0, second})}, ns...)
	wire, err := b.AppendMessages(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Send(ctx, wire); err != nil {
		t.Fatal(err)
	}
}

// scrape fetches /metrics and returns each sample by its series, as printed
// (`name{label="value",...}`).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	body := get(t, base+"/metrics")
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, b)
	}
	return string(b)
}

// Two peers announce routes over real sessions into the real RIB, a third is configured
// but never connects: /metrics and /debug/fanout show each peer's state and prefixes, the
// scheduler's task kinds, the interned sets and the memory, with the same numbers.
func TestScrape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, r, s := daemon(t, netip.MustParseAddr("127.1.93.1"))
	ms, err := Start(Config{Addr: netip.MustParseAddrPort("127.1.93.1:0")}, Deps{Server: srv, RIB: r, Scheduler: s})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close(context.Background())
	base := "http://" + ms.Addr().String()

	sizes := []int{300, 120}
	addrs := []netip.Addr{netip.MustParseAddr("127.1.93.10"), netip.MustParseAddr("127.1.93.11"), netip.MustParseAddr("127.1.93.12")}
	for i, a := range addrs {
		if err := srv.AddPeer(bgp.PeerConfig{Addr: a, PeerAS: uint32(65010 + i), Passive: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range sizes {
		sp, err := gen.Dial(ctx, gen.SessionConfig{Name: fmt.Sprint("speaker-", i), Local: addrs[i], Remote: srv.ListenAddrs()[0],
			AS: uint32(65010 + i), PeerAS: 65000, Table: gen.NewTable(false, gen.CheckRouteServer)}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close(true)
		announce(t, ctx, sp, uint32(65010+i), n, byte(93+i))
	}
	eventually(t, "every path learned", func() bool {
		m := scrape(t, base)
		return m[`fanout_peer_prefixes_received{peer="127.1.93.10"}`] == 300 && m[`fanout_peer_prefixes_received{peer="127.1.93.11"}`] == 120
	})

	m := scrape(t, base)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{`fanout_peer_up{peer="127.1.93.10"}`, 1},
		{`fanout_peer_up{peer="127.1.93.11"}`, 1},
		{`fanout_peer_up{peer="127.1.93.12"}`, 0},
		{`fanout_peer_state{peer="127.1.93.10"}`, float64(bgp.Established)},
		{`fanout_peer_state{peer="127.1.93.11"}`, float64(bgp.Established)},
		{`fanout_peer_prefixes_accepted{peer="127.1.93.10"}`, 300},
		{`fanout_peer_prefixes_best{peer="127.1.93.11"}`, 120},
		{`fanout_peer_prefixes_received{peer="127.1.93.12"}`, 0},
		{`fanout_peer_messages_received_total{peer="127.1.93.10",type="OPEN"}`, 1},
		{`fanout_attr_sets{table="rib"}`, 2},
		{`fanout_paths_received`, 420},
		{`fanout_ribouts_scrape_ok`, 1},
		{`fanout_rib_destinations{family="` + proto.IPv4Unicast.String() + `"}`, 420},
		{`fanout_rib_partitions{family="` + proto.IPv4Unicast.String() + `"}`, 4},
	} {
		if got, ok := m[c.series]; !ok || got != c.want {
			t.Errorf("%s = %v (present %v), want %v", c.series, got, ok, c.want)
		}
	}
	if m[`fanout_connections_admitted_total`] < 2 || m[`fanout_connections_unestablished`] != 0 {
		t.Errorf("connections admitted %v, unestablished %v: want the two sessions admitted and established",
			m[`fanout_connections_admitted_total`], m[`fanout_connections_unestablished`])
	}
	if _, ok := m[`fanout_connections_refused_total{reason="rate"}`]; !ok {
		t.Error("no fanout_connections_refused_total{reason=\"rate\"}")
	}
	if m[`fanout_sync_walks_started_total`] < 1 || m[`fanout_sync_walks_queued`] != 0 {
		t.Errorf("sync walks started %v, queued %v: want the two sessions' initial syncs started, none waiting",
			m[`fanout_sync_walks_started_total`], m[`fanout_sync_walks_queued`])
	}
	if m[`fanout_peer_messages_received_total{peer="127.1.93.10",type="UPDATE"}`] < 1 {
		t.Errorf("no UPDATE counted from peer 0")
	}
	if m[`fanout_peer_uptime_seconds{peer="127.1.93.10"}`] <= 0 {
		t.Errorf("established peer has no uptime")
	}
	if m[`fanout_memory_heap_inuse_bytes`] <= 0 || m[`fanout_bytes_per_path`] <= 0 || m[`fanout_memory_sys_bytes`] <= 0 {
		t.Errorf("memory metrics missing: heap %v, per path %v", m[`fanout_memory_heap_inuse_bytes`], m[`fanout_bytes_per_path`])
	}
	for _, k := range s.Stats() {
		for _, name := range []string{"fanout_sched_runs_total", "fanout_sched_run_seconds_total", "fanout_sched_run_seconds_max",
			"fanout_sched_wait_seconds_total", "fanout_sched_wait_seconds_max", "fanout_sched_queued_tasks"} {
			if _, ok := m[fmt.Sprintf(`%s{kind="%s"}`, name, k.Name)]; !ok {
				t.Errorf("%s missing for kind %s", name, k.Name)
			}
		}
	}
	if m[`fanout_sched_runs_total{kind="db.partition"}`] < 1 || m[`fanout_sched_runs_total{kind="bgp.membership"}`] < 1 {
		t.Errorf("partition runs %v, membership runs %v: both ran", m[`fanout_sched_runs_total{kind="db.partition"}`], m[`fanout_sched_runs_total{kind="bgp.membership"}`])
	}

	// The JSON document has the same numbers.
	var snap Snapshot
	if err := json.Unmarshal([]byte(get(t, base+"/debug/fanout")), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Peers) != 3 {
		t.Fatalf("%d peers in the JSON document, want 3", len(snap.Peers))
	}
	for i, p := range snap.Peers {
		series := func(name string) float64 { return m[fmt.Sprintf(`%s{peer="%s"}`, name, p.Peer)] }
		if p.Peer != addrs[i].String() || float64(p.PrefixesReceived) != series("fanout_peer_prefixes_received") ||
			float64(p.PrefixesBest) != series("fanout_peer_prefixes_best") || float64(p.StateCode) != series("fanout_peer_state") {
			t.Errorf("JSON peer %+v differs from the metrics", p)
		}
		if i < 2 && (p.State != "Established" || p.PrefixesReceived != int64(sizes[i]) || p.MessagesIn["OPEN"] != 1) {
			t.Errorf("JSON peer %d: %+v", i, p)
		}
	}
	if snap.Attrs.Sets != 2 || snap.Memory.PathsReceived != 420 || snap.RibOutsError != "" || len(snap.Scheduler) != len(s.Stats()) {
		t.Errorf("JSON attrs %+v, memory %+v, ribouts error %q, %d kinds", snap.Attrs, snap.Memory, snap.RibOutsError, len(snap.Scheduler))
	}
	if len(snap.Tables) == 0 || snap.Tables[0].Family != proto.IPv4Unicast.String() || snap.Tables[0].Destinations != 420 {
		t.Errorf("JSON tables %+v, want %s with 420 destinations first", snap.Tables, proto.IPv4Unicast)
	}
	if snap.Memory.RSS == 0 {
		t.Errorf("no RSS read from /proc/self/status")
	}

	// pprof is off unless asked for.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(base + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("pprof without Config.Pprof: %s", resp.Status)
	}
}

// Two metrics servers in one process each have their own registry; pprof is mounted only
// when enabled.
func TestRegistryPerServerAndPprof(t *testing.T) {
	srv, r, s := daemon(t, netip.MustParseAddr("127.1.94.1"))
	var bases []string
	for i := 0; i < 2; i++ {
		ms, err := Start(Config{Addr: netip.MustParseAddrPort("127.1.94.1:0"), Pprof: i == 1}, Deps{Server: srv, RIB: r, Scheduler: s})
		if err != nil {
			t.Fatal(err)
		}
		defer ms.Close(context.Background())
		bases = append(bases, "http://"+ms.Addr().String())
	}
	for _, b := range bases {
		if m := scrape(t, b); m[`fanout_attr_sets{table="rib"}`] != 0 {
			t.Errorf("%s: sets %v", b, m[`fanout_attr_sets{table="rib"}`])
		}
	}
	if !strings.Contains(get(t, bases[1]+"/debug/pprof/"), "goroutine") {
		t.Errorf("pprof index without profiles")
	}
	// A Server without a listener still serves through its Handler.
	h := newServer(Config{}, Deps{}).Handler(false)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "fanout_memory_heap_inuse_bytes") {
		t.Errorf("bare handler: %d\n%s", rec.Code, rec.Body.String())
	}
}

// A scrape while the scheduler cannot run the RibOut task says so instead of hanging.
func TestRibOutsTimeout(t *testing.T) {
	srv, r, s := daemon(t, netip.MustParseAddr("127.1.94.2"))
	block, release := make(chan struct{}), make(chan struct{})
	if err := s.Run(sched.BGPConfig, 0, func(*sched.Ctx) sched.Result { close(block); <-release; return sched.Done }); err != nil {
		t.Fatal(err)
	}
	defer close(release)
	<-block
	ms := newServer(Config{RibOutTimeout: 50 * time.Millisecond}, Deps{Server: srv, RIB: r, Scheduler: s})
	snap := ms.Snapshot()
	if snap.RibOutsError == "" {
		t.Fatalf("RibOuts read while bgp.config held everything")
	}
}
