package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
	"github.com/fanoutd/fanout/proto"
)

// addPathGoBGPD is gobgpd configured to receive ADD-PATH from its neighbors.
type addPathGoBGPD struct{ targets.GoBGPD }

func (g addPathGoBGPD) Prepare(spec targets.Spec, dir string) (targets.Launch, error) {
	l, err := g.GoBGPD.Prepare(spec, dir)
	if err != nil {
		return l, err
	}
	f, err := os.OpenFile(l.ConfigPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return l, err
	}
	defer f.Close()
	// TOML: this table belongs to the last [[neighbors]] element, the only one.
	_, err = fmt.Fprint(f, "  [neighbors.add-paths.config]\n    receive = true\n")
	return l, err
}

// Interop, ADD-PATH send (RFC 7911): two gobgpd route-server clients announce the same
// prefix; a third gobgpd that negotiated ADD-PATH receive with fanout holds both paths
// (send-max 4), a plain one only the best; a withdrawal leaves each with the remaining path.
func TestExportInteropAddPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const net24 = "127.1.62"
	fAddr := addr(net24 + ".1")
	srv, _, _ := exportServer(t, fAddr.String())
	type daemon struct {
		target  targets.Target
		as      uint32
		sendMax uint8
		p       *targets.Process
	}
	ds := []*daemon{
		{target: targets.GoBGPD{}, as: 65001},
		{target: targets.GoBGPD{}, as: 65002},
		{target: addPathGoBGPD{}, as: 65003, sendMax: 4},
		{target: targets.GoBGPD{}, as: 65004, sendMax: 4}, // fanout may send; it does not receive
	}
	for i, d := range ds {
		a := addr(fmt.Sprintf("%s.%d", net24, 10+i))
		port, err := targets.FreePort(a)
		if err != nil {
			t.Fatal(err)
		}
		spec := targets.Spec{AS: d.as, RouterID: a, ListenAddr: a, Port: port, Role: targets.RouteServer,
			HoldTime: 9 * time.Second, Neighbors: []targets.Neighbor{{Address: fAddr, AS: 65000, Port: listenPort(srv), RouteServer: true}}}
		if d.p, err = targets.Start(ctx, d.target, spec, targets.Options{}); err != nil {
			t.Fatalf("gobgpd %v: %v", a, err)
		}
		p := d.p
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("gobgpd %v log:\n%s", a, p.LogTail(30))
			}
			p.Stop(context.Background())
		})
		cfg := PeerConfig{Addr: a, PeerAS: d.as, RemotePort: port, RSClient: true, IdleHoldTime: -1, ConnectRetry: time.Second}
		if d.sendMax > 0 {
			cfg.AddPathSend = []AddPathSend{{Family: proto.IPv4Unicast, Max: d.sendMax}}
		}
		addPeer(t, srv, cfg)
		waitState(t, srv, a, Established)
	}
	// paths returns the next hops gobgpd d holds for the prefix.
	paths := func(d *daemon) map[string]bool {
		var dst map[string][]struct {
			Attrs []struct {
				Type    int    `json:"type"`
				NextHop string `json:"nexthop"`
			} `json:"attrs"`
		}
		out := gobgp(ctx, t, d.p, "global", "rib", "10.98.0.0/24", "-j")
		if err := json.Unmarshal([]byte(out), &dst); err != nil {
			t.Fatalf("gobgp global rib -j: %v: %s", err, out)
		}
		nh := map[string]bool{}
		for _, ps := range dst {
			for _, p := range ps {
				for _, a := range p.Attrs {
					if a.NextHop != "" {
						nh[a.NextHop] = true
					}
				}
			}
		}
		return nh
	}
	gobgp(ctx, t, ds[0].p, "global", "rib", "add", "10.98.0.0/24", "nexthop", "198.18.0.1")
	gobgp(ctx, t, ds[1].p, "global", "rib", "add", "10.98.0.0/24", "nexthop", "198.18.0.2", "aspath", "65002,65100")
	eventually(t, "the ADD-PATH receiver holds both paths", func() bool {
		nh := paths(ds[2])
		return len(nh) == 2 && nh["198.18.0.1"] && nh["198.18.0.2"]
	})
	eventually(t, "the plain receiver holds the best path", func() bool {
		nh := paths(ds[3])
		return len(nh) == 1 && nh["198.18.0.1"]
	})
	gobgp(ctx, t, ds[0].p, "global", "rib", "del", "10.98.0.0/24")
	for _, d := range ds[2:] {
		eventually(t, "after the withdrawal", func() bool {
			nh := paths(d)
			return len(nh) == 1 && nh["198.18.0.2"]
		})
	}
}
