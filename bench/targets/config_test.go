package targets

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// specFor builds a spec with one passive and one active neighbor, each with both families, in
// role r.
func specFor(r Role) Spec {
	addr, a1, a2 := testNet(200)
	s := Spec{
		AS: 65000, RouterID: addr, ListenAddr: addr, Port: 17900, Role: r,
		HoldTime: 30 * time.Second, ClusterID: netip.MustParseAddr("10.255.0.9"),
	}
	as1, as2 := uint32(65001), uint32(65002)
	if r == RouteReflector {
		as1, as2 = 65000, 65000
	}
	fams := []Family{IPv4Unicast, IPv6Unicast}
	s.Neighbors = []Neighbor{
		{Address: a1, AS: as1, Passive: true, Families: fams},
		{Address: a2, AS: as2, Port: 17901, Families: fams},
	}
	for i := range s.Neighbors {
		s.Neighbors[i].RouteServerClient = r == RouteServer
		s.Neighbors[i].RouteReflectorClient = r == RouteReflector
	}
	return s
}

// TestConfigsCheck has each daemon check the configuration it is given, in both roles, with
// passive and active neighbors and both families, using the daemon's own check mode.
func TestConfigsCheck(t *testing.T) {
	for _, r := range []Role{RouteServer, RouteReflector} {
		spec := specFor(r)
		checks := []struct {
			name string
			conf func(dir string) []byte
			cmd  func(conf, dir string) []string
		}{
			{"gobgpd", func(string) []byte { return GoBGPConfig(spec) },
				func(conf, _ string) []string { return []string{DefaultGoBGPD, "-d", "-f", conf} }},
			{"bird", func(string) []byte { return BIRDConfig(spec) },
				func(conf, _ string) []string { return []string{DefaultBIRD, "-p", "-c", conf} }},
			{"frr", func(string) []byte { return FRRConfig(spec) },
				func(conf, dir string) []string {
					return []string{DefaultFRRBGPD, "-C", "-Z", "-S", "-P", "0", "-f", conf,
						"-i", filepath.Join(dir, "pid"), "--vty_socket", dir}
				}},
			{"openbgpd", func(dir string) []byte { return OpenBGPDConfig(spec, filepath.Join(dir, "sock")) },
				func(conf, _ string) []string { return []string{DefaultOpenBGPD, "-n", "-f", conf} }},
		}
		for _, c := range checks {
			t.Run(c.name+"/"+r.String(), func(t *testing.T) {
				dir := t.TempDir()
				conf := filepath.Join(dir, "conf")
				text := c.conf(dir)
				if err := os.WriteFile(conf, text, 0o600); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				argv := c.cmd(conf, dir)
				cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
				out, err := cmd.CombinedOutput()
				if c.name == "frr" && cmd.Process != nil { // its crash-log directory
					os.RemoveAll(filepath.Join(frrCrashDir, "bgpd."+strconv.Itoa(cmd.Process.Pid)))
				}
				// FRR's -C exits 0 whatever it finds; it names the line it rejects.
				if err != nil || strings.Contains(string(out), "on config line") {
					t.Errorf("%s rejects its config: %v\n%s\n--- config ---\n%s", c.name, err, out, text)
				}
			})
		}
	}
}

func TestGoBGPConfigText(t *testing.T) {
	got := string(GoBGPConfig(specFor(RouteReflector)))
	for _, want := range []string{
		"[global.config]\n  as = 65000\n  router-id = \"127.77.200.1\"\n  port = 17900\n  local-address-list = [\"127.77.200.1\"]\n",
		"neighbor-address = \"127.77.200.2\"\n    peer-as = 65000\n",
		"hold-time = 30\n    keepalive-interval = 10\n",
		"local-address = \"127.77.200.1\"\n    passive-mode = true\n",
		"local-address = \"127.77.200.1\"\n    remote-port = 17901\n",
		"route-reflector-client = true\n    route-reflector-cluster-id = \"10.255.0.9\"\n",
		"afi-safi-name = \"ipv4-unicast\"",
		"afi-safi-name = \"ipv6-unicast\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "route-server") {
		t.Errorf("route-reflector config mentions route-server:\n%s", got)
	}
	rs := string(GoBGPConfig(specFor(RouteServer)))
	if strings.Count(rs, "route-server-client = true") != 2 || strings.Contains(rs, "route-reflector") {
		t.Errorf("route-server config:\n%s", rs)
	}
}

func TestFanoutdPrepare(t *testing.T) {
	dir := t.TempDir()
	spec := specFor(RouteServer)
	l, err := Fanoutd{Binary: "/opt/fanoutd", ExtraArgs: []string{"-api", "x"}}.Prepare(spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Path != "/opt/fanoutd" || strings.Join(l.Args, " ") != "-f "+l.ConfigPath+" -api x" {
		t.Errorf("launch %q %q", l.Path, l.Args)
	}
	b, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(GoBGPConfig(spec)) {
		t.Errorf("fanoutd config differs from the gobgpd one:\n%s", b)
	}
	if _, err := (Fanoutd{}).Prepare(spec, dir); err == nil {
		t.Error("Prepare without a binary succeeded")
	}
}

func TestSpecValidate(t *testing.T) {
	if err := specFor(RouteServer).Validate(); err != nil {
		t.Errorf("route server: %v", err)
	}
	if err := specFor(RouteReflector).Validate(); err != nil {
		t.Errorf("route reflector: %v", err)
	}
	bad := map[string]func(*Spec){
		"no AS":           func(s *Spec) { s.AS = 0 },
		"v6 router id":    func(s *Spec) { s.RouterID = netip.MustParseAddr("::1") },
		"public listen":   func(s *Spec) { s.ListenAddr = netip.MustParseAddr("192.0.2.1") },
		"privileged port": func(s *Spec) { s.Port = 179 },
		"short hold":      func(s *Spec) { s.HoldTime = 2 * time.Second },
		"no neighbors":    func(s *Spec) { s.Neighbors = nil },
		"public neighbor": func(s *Spec) { s.Neighbors[0].Address = netip.MustParseAddr("10.0.0.1") },
		"twice":           func(s *Spec) { s.Neighbors[1].Address = s.Neighbors[0].Address },
		"self":            func(s *Spec) { s.Neighbors[0].Address = s.ListenAddr },
		"iBGP in RS":      func(s *Spec) { s.Neighbors[0].AS = s.AS },
		"RR client in RS": func(s *Spec) { s.Neighbors[0].RouteReflectorClient = true },
		"family":          func(s *Spec) { s.Neighbors[0].Families = []Family{7} },
	}
	for name, mutate := range bad {
		s := specFor(RouteServer)
		s.Neighbors = append([]Neighbor(nil), s.Neighbors...)
		mutate(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
	s := specFor(RouteServer)
	s.ListenAddr = netip.MustParseAddr("10.1.1.1")
	if err := s.Validate(); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("non-loopback listen: %v, want ErrNotLoopback", err)
	}
	s = specFor(RouteReflector)
	s.Neighbors[1].AS = 65009
	if err := s.Validate(); err == nil {
		t.Error("eBGP neighbor of a route reflector accepted")
	}
}
