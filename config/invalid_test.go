package config

import (
	"slices"
	"strings"
	"testing"
)

// base is a valid global table the invalid cases add to.
const base = `
[global.config]
  as = 65000
  router-id = "192.0.2.1"
`

// nb writes a neighbor table with address a and peer-as as, then extra lines.
func nb(a, as string, extra ...string) string {
	s := "[[neighbors]]\n[neighbors.config]\nneighbor-address = \"" + a + "\"\n"
	if as != "" {
		s += "peer-as = " + as + "\n"
	}
	return s + strings.Join(extra, "\n") + "\n"
}

// TestInvalid: every refused configuration, with every message it must produce (and no other).
// Lines are left out here (TestErrorLines checks them); each want is "key: message".
func TestInvalid(t *testing.T) {
	cases := []struct {
		name string
		text string // TOML unless it starts with "yaml:" or "json:"
		want []string
	}{
		{"global AS 0", "[global.config]\nas = 0\nrouter-id = \"192.0.2.1\"",
			[]string{"global.config.as: 0 is not a valid AS number (1 to 4294967295)"}},
		{"global AS too big", "[global.config]\nas = 4294967296\nrouter-id = \"192.0.2.1\"",
			[]string{"global.config.as: 4294967296 is not a valid AS number (1 to 4294967295)"}},
		{"global AS negative", "[global.config]\nas = -1\nrouter-id = \"192.0.2.1\"",
			[]string{"global.config.as: -1 is not a valid AS number (1 to 4294967295)"}},
		{"global AS text", "[global.config]\nas = \"sixty-five\"\nrouter-id = \"192.0.2.1\"",
			[]string{`global.config.as: "sixty-five" is not a valid AS number (1 to 4294967295)`}},
		{"AS_TRANS", "[global.config]\nas = 23456\nrouter-id = \"192.0.2.1\"",
			[]string{"global.config.as: 23456 is AS_TRANS, reserved and not a valid AS number (RFC 6793)"}},
		{"empty file", "", []string{
			"global.config.as: missing: the local AS number is required",
			"global.config.router-id: missing: a router-id (a non-zero IPv4 address) is required"}},
		{"bad router-id", "[global.config]\nas = 1\nrouter-id = \"192.0.2\"",
			[]string{`global.config.router-id: "192.0.2" is not an IP address`}},
		{"IPv6 router-id", "[global.config]\nas = 1\nrouter-id = \"2001:db8::1\"",
			[]string{`global.config.router-id: "2001:db8::1" is not a valid router-id (a non-zero IPv4 address)`}},
		{"zero router-id", "[global.config]\nas = 1\nrouter-id = \"0.0.0.0\"",
			[]string{`global.config.router-id: "0.0.0.0" is not a valid router-id (a non-zero IPv4 address)`}},
		{"bad port", base + "port = 70000", []string{"global.config.port: 70000 is out of range (-1 to 65535)"}},
		{"bad local address", base + "local-address-list = [\"127.0.0.1\", \"localhost\"]",
			[]string{`global.config.local-address-list[1]: "localhost" is not an IP address`}},
		{"unsupported global key", base + "[global.apply-policy.config]\ndefault-import-policy = \"accept-route\"",
			[]string{"global.apply-policy: gobgpd setting not supported by fanout"}},

		{"peer-as 0", base + nb("192.0.2.2", "65002") + nb("192.0.2.3", "65003") + nb("192.0.2.4", "0"),
			[]string{"neighbors[2].config.peer-as: 0 is not a valid AS number (1 to 4294967295)"}},
		{"peer-as missing", base + nb("192.0.2.2", ""),
			[]string{"neighbors[0].config.peer-as: missing: set the neighbor's AS here"}},
		{"bad neighbor address", base + nb("192.0.2.300", "1"),
			[]string{`neighbors[0].config.neighbor-address: "192.0.2.300" is not an IP address`}},
		{"multicast neighbor", base + nb("224.0.0.5", "1"),
			[]string{`neighbors[0].config.neighbor-address: "224.0.0.5" is not a unicast address`}},
		{"zone on a global address", base + nb("2001:db8::1%eth0", "1"),
			[]string{`neighbors[0].config.neighbor-address: "2001:db8::1%eth0": only an IPv6 link-local neighbor address may carry a zone`}},
		{"missing neighbor address", base + "[[neighbors]]\n[neighbors.config]\npeer-as = 1",
			[]string{"neighbors[0].config.neighbor-address: missing: a neighbor needs an address"}},
		{"duplicate neighbor", base + nb("192.0.2.2", "1") + nb("192.0.2.2", "2"),
			[]string{`neighbors[1].config.neighbor-address: "192.0.2.2" is already configured as neighbors[0]`}},
		{"unnumbered neighbor", base + "[[neighbors]]\n[neighbors.config]\nneighbor-interface = \"eth0\"\npeer-as = 1",
			[]string{"neighbors[0].config.neighbor-interface: gobgpd setting not supported by fanout"}},
		{"neighbors as a table", base + "[neighbors]\nx = 1",
			[]string{"neighbors: wants a list of tables ([[neighbors]] in TOML, a '- ' list in YAML), got a single table"}},
		{"unknown afi-safi", base + nb("192.0.2.2", "1", "[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]", `afi-safi-name = "ipv5-unicast"`),
			[]string{`neighbors[0].afi-safis[0].config.afi-safi-name: "ipv5-unicast" is not an afi-safi name (supported: ipv4-unicast, ipv6-unicast, l3vpn-ipv4-unicast, l3vpn-ipv6-unicast)`}},
		{"unsupported afi-safi", base + nb("192.0.2.2", "1", "[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]", `afi-safi-name = "l2vpn-evpn"`),
			[]string{`neighbors[0].afi-safis[0].config.afi-safi-name: "l2vpn-evpn" is not supported by fanout (supported: ipv4-unicast, ipv6-unicast, l3vpn-ipv4-unicast, l3vpn-ipv6-unicast)`}},
		{"duplicate afi-safi", base + nb("192.0.2.2", "1",
			"[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]", `afi-safi-name = "ipv4-unicast"`,
			"[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]", `afi-safi-name = "ipv4-unicast"`),
			[]string{`neighbors[0].afi-safis[1].config.afi-safi-name: "ipv4-unicast" is already listed as afi-safis[0]`}},
		{"afi-safi without a name", base + nb("192.0.2.2", "1", "[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]", "enabled = true"),
			[]string{"neighbors[0].afi-safis[0].config.afi-safi-name: missing: each afi-safis entry needs a name"}},
		{"hold time 1", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "hold-time = 1"),
			[]string{"neighbors[0].timers.config.hold-time: 1 is not allowed: the hold time is 0 or at least 3 seconds (RFC 4271 4.2)"}},
		{"hold time 2", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "hold-time = 2"),
			[]string{"neighbors[0].timers.config.hold-time: 2 is not allowed: the hold time is 0 or at least 3 seconds (RFC 4271 4.2)"}},
		{"hold time fraction", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "hold-time = 4.5"),
			[]string{"neighbors[0].timers.config.hold-time: 4.5 is not a whole number of seconds"}},
		{"hold time negative", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "hold-time = -90"),
			[]string{"neighbors[0].timers.config.hold-time: -90 is negative"}},
		{"hold time text", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", `hold-time = "90s"`),
			[]string{`neighbors[0].timers.config.hold-time: wants a number of seconds, got "90s"`}},
		{"keepalive above hold", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "hold-time = 30", "keepalive-interval = 40"),
			[]string{"neighbors[0].timers.config.keepalive-interval: 40s is more than hold-time 30s"}},
		{"keepalive above default hold", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "keepalive-interval = 100"),
			[]string{"neighbors[0].timers.config.keepalive-interval: 1m40s is more than hold-time 1m30s"}},
		{"keepalive 0 with a hold time", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "keepalive-interval = 0"),
			[]string{"neighbors[0].timers.config.keepalive-interval: 0 with hold-time 1m30s: the session would expire without keepalives"}},
		{"keepalive under a second", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "hold-time = 3", "keepalive-interval = 0.5"),
			[]string{"neighbors[0].timers.config.keepalive-interval: 500ms is less than 1 second (RFC 4271 10)"}},
		{"connect-retry 0", base + nb("192.0.2.2", "1", "[neighbors.timers.config]", "connect-retry = 0"),
			[]string{"neighbors[0].timers.config.connect-retry: 0s is less than 1 second"}},
		{"unknown peer group", base + nb("192.0.2.2", "1", `peer-group = "nope"`),
			[]string{`neighbors[0].config.peer-group: peer group "nope" is not defined in peer-groups`}},
		{"route-reflector client on eBGP", base + nb("192.0.2.2", "65001", "[neighbors.route-reflector.config]", "route-reflector-client = true"),
			[]string{"neighbors[0].route-reflector.config.route-reflector-client: true on an eBGP neighbor (peer-as 65001, local AS 65000): route reflection is for iBGP peers (RFC 4456)"}},
		{"bad cluster id", base + nb("192.0.2.2", "65000", "[neighbors.route-reflector.config]", "route-reflector-client = true", `route-reflector-cluster-id = "cluster-1"`),
			[]string{`neighbors[0].route-reflector.config.route-reflector-cluster-id: "cluster-1" is not a cluster id (an IPv4 address or a 32-bit number)`}},
		{"route server and reflector client", base + nb("192.0.2.2", "65000", "[neighbors.route-reflector.config]", "route-reflector-client = true",
			"[neighbors.route-server.config]", "route-server-client = true"),
			[]string{"neighbors[0].route-server.config.route-server-client: true together with route-reflector-client: a peer is a route-server client or a route-reflector client, not both"}},
		{"multihop and ttl-security", base + nb("192.0.2.2", "1", "[neighbors.ebgp-multihop.config]", "enabled = true", "[neighbors.ttl-security.config]", "enabled = true"),
			[]string{"neighbors[0].ttl-security.config.enabled: true together with ebgp-multihop: ttl-security and ebgp-multihop are mutually exclusive"}},
		{"multihop ttl 0", base + nb("192.0.2.2", "1", "[neighbors.ebgp-multihop.config]", "enabled = true", "multihop-ttl = 0"),
			[]string{"neighbors[0].ebgp-multihop.config.multihop-ttl: 0 is out of range (1 to 255)"}},
		{"graceful restart options while disabled", base + nb("192.0.2.2", "1", "[neighbors.graceful-restart.config]", "long-lived-enabled = true", "notification-enabled = true"),
			[]string{
				"neighbors[0].graceful-restart.config.long-lived-enabled: true while graceful-restart.config.enabled is false",
				"neighbors[0].graceful-restart.config.notification-enabled: true while graceful-restart.config.enabled is false"}},
		{"restart time too long", base + nb("192.0.2.2", "1", "[neighbors.graceful-restart.config]", "enabled = true", "restart-time = 5000"),
			[]string{"neighbors[0].graceful-restart.config.restart-time: 5000 is more than 4095 seconds"}},
		{"mp graceful restart without graceful restart", base + nb("192.0.2.2", "1", "[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]",
			`afi-safi-name = "ipv4-unicast"`, "[neighbors.afi-safis.mp-graceful-restart.config]", "enabled = true"),
			[]string{"neighbors[0].afi-safis[0].mp-graceful-restart.config.enabled: true while graceful-restart.config.enabled is false"}},
		{"prefix limit percentage", base + nb("192.0.2.2", "1", "[[neighbors.afi-safis]]", "[neighbors.afi-safis.config]",
			`afi-safi-name = "ipv4-unicast"`, "[neighbors.afi-safis.prefix-limit.config]", "max-prefixes = 10", "shutdown-threshold-pct = 120"),
			[]string{"neighbors[0].afi-safis[0].prefix-limit.config.shutdown-threshold-pct: 120 is out of range (0 to 100)"}},
		{"send-max too big", base + nb("192.0.2.2", "1", "[neighbors.add-paths.config]", "send-max = 256"),
			[]string{"neighbors[0].add-paths.config.send-max: 256 is out of range (0 to 255)"}},
		{"passive-mode not a bool", base + nb("192.0.2.2", "1", "[neighbors.transport.config]", `passive-mode = "yes"`),
			[]string{`neighbors[0].transport.config.passive-mode: wants true or false, got "yes"`}},
		{"local address of the other family", base + nb("192.0.2.2", "1", "[neighbors.transport.config]", `local-address = "2001:db8::1"`),
			[]string{`neighbors[0].transport.config.local-address: "2001:db8::1" is not of the same address family as neighbor-address 192.0.2.2`}},
		{"auth password too long", base + nb("192.0.2.2", "1", `auth-password = "`+strings.Repeat("k", 81)+`"`),
			[]string{"neighbors[0].config.auth-password: the TCP MD5 key is 81 bytes, more than 80"}},
		{"unknown neighbor keys", base + nb("192.0.2.2", "1", "peer-asn = 2", "[neighbors.timers.config]", "holdtime = 30", "[neighbors.apply-policy.config]", `import-policy-list = ["x"]`),
			[]string{
				"neighbors[0].config.peer-asn: unknown key",
				"neighbors[0].timers.config.holdtime: unknown key",
				"neighbors[0].apply-policy: gobgpd setting not supported by fanout"}},
		{"unknown top-level keys", base + "[policy-definitions]\nx = 1\n[globals]\ny = 2",
			[]string{"policy-definitions: gobgpd setting not supported by fanout", "globals: unknown key"}},
		{"yaml unknown key", "yaml:global:\n  config:\n    as: 1\n    router-id: 192.0.2.1\n    routerid: 192.0.2.1\n",
			[]string{"global.config.routerid: unknown key"}},
		{"json wrong type", `json:{"global": {"config": {"as": 1, "router-id": "192.0.2.1"}}, "neighbors": [{"config": "x"}, 5]}`,
			[]string{
				`neighbors[1]: wants a table, got 5`,
				`neighbors[0].config: wants a table, got "x"`,
				"neighbors[0].config.neighbor-address: missing: a neighbor needs an address",
				"neighbors[0].config.peer-as: missing: set the neighbor's AS here"}},

		{"peer group errors reported once", base + `
[[peer-groups]]
[peer-groups.config]
peer-group-name = "g"
peer-as = 65001
[peer-groups.timers.config]
hold-time = 30
keepalive-interval = 40
[peer-groups.route-reflector.config]
route-reflector-client = true
` + nb("192.0.2.2", "", `peer-group = "g"`) + nb("192.0.2.3", "", `peer-group = "g"`),
			[]string{
				"peer-groups[0].timers.config.keepalive-interval: 40s is more than hold-time 30s",
				"peer-groups[0].route-reflector.config.route-reflector-client: true on an eBGP neighbor (peer-as 65001, local AS 65000): route reflection is for iBGP peers (RFC 4456)"}},
		{"member override makes it the member's problem", base + `
[[peer-groups]]
[peer-groups.config]
peer-group-name = "g"
peer-as = 65000
[peer-groups.route-reflector.config]
route-reflector-client = true
` + nb("192.0.2.2", "65009", `peer-group = "g"`),
			[]string{"neighbors[0].route-reflector.config.route-reflector-client: true on an eBGP neighbor (peer-as 65009, local AS 65000): route reflection is for iBGP peers (RFC 4456)"}},
		{"duplicate peer group", base + "[[peer-groups]]\n[peer-groups.config]\npeer-group-name = \"g\"\n[[peer-groups]]\n[peer-groups.config]\npeer-group-name = \"g\"",
			[]string{`peer-groups[1].config.peer-group-name: "g" is already the name of peer-groups[0]`}},
		{"peer group without a name", base + "[[peer-groups]]\n[peer-groups.config]\npeer-as = 1",
			[]string{"peer-groups[0].config.peer-group-name: missing: a peer group needs a name"}},

		{"dynamic neighbor bad prefix", base + "[[peer-groups]]\n[peer-groups.config]\npeer-group-name = \"g\"\npeer-as = 1\n" +
			"[[dynamic-neighbors]]\n[dynamic-neighbors.config]\nprefix = \"10.0.0.0/33\"\npeer-group = \"g\"",
			[]string{`dynamic-neighbors[0].config.prefix: "10.0.0.0/33" is not a prefix (write it like 192.0.2.0/24)`}},
		{"dynamic neighbor group without peer-as", base + "[[peer-groups]]\n[peer-groups.config]\npeer-group-name = \"g\"\n" +
			"[[dynamic-neighbors]]\n[dynamic-neighbors.config]\nprefix = \"10.0.0.0/8\"\npeer-group = \"g\"",
			[]string{`dynamic-neighbors[0].config.peer-group: peer group "g" sets no peer-as, which dynamic peers need`}},
		{"dynamic neighbor unknown group", base + "[[dynamic-neighbors]]\n[dynamic-neighbors.config]\nprefix = \"10.0.0.0/8\"\npeer-group = \"g\"",
			[]string{`dynamic-neighbors[0].config.peer-group: peer group "g" is not defined in peer-groups`}},

		{"vrf bad rd", base + "[[vrfs]]\n[vrfs.config]\nname = \"a\"\nrd = \"65000\"",
			[]string{`vrfs[0].config.rd: "65000" is not a route distinguisher (write it like 65000:100, 192.0.2.1:100 or 4200000000:100)`}},
		{"vrf rd number too big", base + "[[vrfs]]\n[vrfs.config]\nname = \"a\"\nrd = \"65000:4294967296\"",
			[]string{`vrfs[0].config.rd: "65000:4294967296": the assigned number 4294967296 is more than 4294967295`}},
		{"vrf bad rt", base + "[[vrfs]]\n[vrfs.config]\nname = \"a\"\nrd = \"65000:1\"\nimport-rt-list = [\"65000:1\", \"192.0.2.1:70000\", \"rt:1\"]",
			[]string{
				`vrfs[0].config.import-rt-list[1]: "192.0.2.1:70000": the assigned number 70000 is more than 65535, the most this form of route target holds`,
				`vrfs[0].config.import-rt-list[2]: "rt:1" is not a route target (write it like 65000:100, 192.0.2.1:100 or 4200000000:100)`}},
		{"vrf duplicates", base + "[[vrfs]]\n[vrfs.config]\nname = \"a\"\nid = 3\nrd = \"65000:1\"\n[[vrfs]]\n[vrfs.config]\nname = \"a\"\nid = 3\nrd = \"65000:2\"",
			[]string{
				`vrfs[1].config.name: "a" is already the name of vrfs[0]`,
				"vrfs[1].config.id: 3 is already the id of vrfs[0]"}},
		{"neighbor in an unknown vrf", base + "[[vrfs]]\n[vrfs.config]\nname = \"red\"\nrd = \"65000:1\"\n" + nb("192.0.2.2", "65001", `vrf = "blue"`),
			[]string{`neighbors[0].config.vrf: "blue" is not the name of a vrf in vrfs`}},
		{"neighbor in a vrf without vrfs", base + nb("192.0.2.2", "65001", `vrf = "red"`),
			[]string{`neighbors[0].config.vrf: "red" is not the name of a vrf in vrfs`}},
		{"vrf without rd", base + "[[vrfs]]\n[vrfs.config]\nname = \"a\"",
			[]string{"vrfs[0].config.rd: missing: a vrf needs a route distinguisher"}},

		{"reconcile interval negative", base + "[fanout]\nroute-reconcile-interval = \"-1m\"",
			[]string{`fanout.route-reconcile-interval: "-1m" is negative`}},
		{"reconcile interval negative number", base + "[fanout]\nroute-reconcile-interval = -60",
			[]string{"fanout.route-reconcile-interval: -60 is negative"}},
		{"bad duration", base + "[fanout]\nroute-reconcile-interval = \"5 minutes\"",
			[]string{`fanout.route-reconcile-interval: "5 minutes" is not a duration (write it like "90s", "5m" or "1h30m")`}},
		{"start delay too long", base + "[fanout.sync]\nmax-start-delay = \"1h\"",
			[]string{`fanout.sync.max-start-delay: "1h" is more than 10m0s`}},
		{"fanout ranges", base + "[fanout]\npartitions = 0\nworkers = 2000\n[fanout.sync]\nmax-concurrent-walks = 0",
			[]string{
				"fanout.partitions: 0 is out of range (1 to 1024)",
				"fanout.workers: 2000 is out of range (1 to 1024)",
				"fanout.sync.max-concurrent-walks: 0 is out of range (1 to 1024)"}},
		{"fanout addresses", base + "[fanout]\nhttp-address = \"localhost:9179\"\ngrpc-address = \"127.0.0.1\"",
			[]string{
				`fanout.http-address: "localhost:9179" is not an IP address and port (write it like 127.0.0.1:9179 or [::1]:9179)`,
				`fanout.grpc-address: "127.0.0.1" is not an IP address and port (write it like 127.0.0.1:9179 or [::1]:9179)`}},
		{"fanout log level and memory", base + "[fanout]\nlog-level = \"verbose\"\nmemory-limit = \"3XB\"\nmemory-ceiling = \"lots\"\nthreads = 4",
			[]string{
				`fanout.log-level: "verbose" is not a log level (debug, info, warn, error)`,
				`fanout.memory-limit: "3XB" is not a size (write it like 512MiB or 2GiB, or a number of bytes)`,
				`fanout.memory-ceiling: "lots" is not a size (write it like 512MiB or 2GiB, or a number of bytes)`,
				"fanout.threads: unknown key"}},
		{"fanout admission", base + "[fanout.admission]\nper-source-burst = 0\nmax-unestablished = -1\nper-source-interval = \"2h\"\nburst = 3",
			[]string{
				"fanout.admission.per-source-burst: 0 is out of range (1 to 1048576)",
				"fanout.admission.max-unestablished: -1 is out of range (1 to 1048576)",
				`fanout.admission.per-source-interval: "2h" is more than 1h0m0s`,
				"fanout.admission.burst: unknown key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			format, text := "toml", tc.text
			if f, rest, ok := strings.Cut(text, ":"); ok && (f == "yaml" || f == "json") {
				format, text = f, rest
			}
			c, err := load([]byte(text), format, "", nil)
			if err == nil {
				t.Fatalf("loaded: %+v", c)
			}
			if c != nil {
				t.Error("a Config came back with an error")
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				ke, ok := e.(*KeyError)
				if !ok {
					t.Fatalf("%T: %v", e, e)
				}
				got = append(got, ke.Key+": "+ke.Msg)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestAllErrorsAtOnce: one bad file reports every problem, not only the first.
func TestAllErrorsAtOnce(t *testing.T) {
	text := "[global.config]\nas = 0\nrouter-id = \"x\"\n" + nb("192.0.2.2", "0") + nb("192.0.2.2", "1") + "[fanout]\nworkers = -1\n"
	_, err := LoadBytes([]byte(text), "toml")
	if n := len(errLines(err)); n != 5 {
		t.Errorf("%d errors, want 5:\n%v", n, err)
	}
}
