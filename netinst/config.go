package netinst

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// DefaultName is the name of the default instance (the global IPv4 and IPv6 unicast RIB).
const DefaultName = "default"

// Config is the desired configuration of one network instance.
type Config struct {
	// Name identifies the instance: DefaultName, or a VRF's name.
	Name string
	// VRF is set for a VRF instance: its routes come from the rib's VRF tables of the same
	// name (the feed's AddVRF). RD and the route targets (RFC 4360 §4) are the rib's: the
	// VRF tables import and export with them; netinst keeps them only as part of the config.
	VRF       bool
	RD        proto.RD
	ImportRTs [][8]byte
	ExportRTs [][8]byte
	// Netns names the network namespace of the instance's kernel state; the manager hands it
	// to Deps.Kernel. A change restarts the actor (tearing down in the old namespace first).
	Netns string
	// Table is the kernel routing table id the instance installs into (1 to 2^32-1; 254 is
	// main). Required when Install is set.
	Table int
	// Install puts the instance's best routes into Table. Off by default: nothing touches
	// the host's kernel unless asked.
	Install bool
	// Src4 and Src6 are the preferred source addresses of installed IPv4 and IPv6 routes;
	// zero: none.
	Src4, Src6 netip.Addr
	// Setup is the instance's bridge, ports and rule (Setup.Table is taken from Table).
	Setup Setup
	// ReconcileInterval is how often the instance's table is compared with the kernel; 0
	// disables reconciliation.
	ReconcileInterval time.Duration
}

// Validate refuses a configuration an actor could not run, naming the field.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if c.Install && c.Table <= 0 {
		errs = append(errs, fmt.Errorf("instance %q: table: install needs a kernel table id (1 to 4294967295)", c.Name))
	}
	if c.Table < 0 || int64(c.Table) > 1<<32-1 {
		errs = append(errs, fmt.Errorf("instance %q: table: %d is not a kernel table id", c.Name, c.Table))
	}
	if c.ReconcileInterval < 0 {
		errs = append(errs, fmt.Errorf("instance %q: reconcile interval: %v is negative", c.Name, c.ReconcileInterval))
	}
	if c.Src4.IsValid() && !c.Src4.Is4() {
		errs = append(errs, fmt.Errorf("instance %q: source-v4: %s is not an IPv4 address", c.Name, c.Src4))
	}
	if c.Src6.IsValid() && (!c.Src6.Is6() || c.Src6.Is4In6()) {
		errs = append(errs, fmt.Errorf("instance %q: source-v6: %s is not an IPv6 address", c.Name, c.Src6))
	}
	if c.Setup.RulePriority != 0 && c.Setup.Bridge == "" {
		errs = append(errs, fmt.Errorf("instance %q: rule priority: a rule needs a bridge", c.Name))
	}
	return errors.Join(errs...)
}

func (c *Config) setup() Setup {
	s := c.Setup
	s.Table = c.Table
	return s
}

// sameRoutes reports whether a and b install the same routes the same way.
func sameRoutes(a, b *Config) bool {
	return a.Table == b.Table && a.Install == b.Install && a.Src4 == b.Src4 && a.Src6 == b.Src6
}

func equalConfig(a, b *Config) bool { return reflect.DeepEqual(a, b) }
