package main

import (
	"testing"
	"time"

	"github.com/fanoutd/fanout/config"
	"github.com/fanoutd/fanout/proto"
)

// Graceful restart settings reach the session: the N bit (notification-enabled) and the
// long-lived families with their stale time (RFC 9494), and -r waits for the neighbors
// with graceful restart for the longest of their deferral times.
func TestGracefulRestartConfig(t *testing.T) {
	c, err := config.LoadBytes([]byte(`
[global.config]
  as = 65000
  router-id = "10.0.0.1"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.1.72.10"
    peer-as = 65010
  [neighbors.graceful-restart.config]
    enabled = true
    notification-enabled = true
    long-lived-enabled = true
    deferral-time = 45
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
    [neighbors.afi-safis.long-lived-graceful-restart.config]
      enabled = true
      restart-time = 3600
[[neighbors]]
  [neighbors.config]
    neighbor-address = "127.1.72.11"
    peer-as = 65011
`), "toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := unsupported(c); err != nil {
		t.Fatalf("long-lived graceful restart refused: %v", err)
	}
	pc := peerConfig(c, &c.Neighbors[0])
	gr := pc.GracefulRestart
	if !gr.Enabled || !gr.Notification || len(gr.LongLived) != 1 ||
		gr.LongLived[0] != (proto.GRFamily{Family: proto.IPv4Unicast, StaleTime: 3600}) {
		t.Fatalf("graceful restart config %+v", gr)
	}
	if pc2 := peerConfig(c, &c.Neighbors[1]); pc2.GracefulRestart.Enabled || len(pc2.GracefulRestart.LongLived) != 0 {
		t.Fatalf("second neighbor %+v", pc2.GracefulRestart)
	}
	peers, longest := deferralOf(c)
	if len(peers) != 1 || peers[0] != c.Neighbors[0].Address || longest != 45*time.Second {
		t.Fatalf("deferral waits for %v up to %v", peers, longest)
	}
}
