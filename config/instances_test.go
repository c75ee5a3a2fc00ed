package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const instancesTOML = `
[global.config]
  as = 65000
  router-id = "192.0.2.1"
[[vrfs]]
  [vrfs.config]
    name = "blue"
    rd = "65000:1"
    both-rt-list = ["65000:1"]
[fanout]
  route-reconcile-interval = "30s"
  [[fanout.instances]]
    name = "default"
    table = 100
    install = true
    source-v4 = "192.0.2.1"
  [[fanout.instances]]
    name = "blue"
    table = 200
    install = true
    netns = "tenant1"
    bridge = "br-blue"
    bridge-addresses = ["198.51.100.254/24", "2001:db8:1::fe/64"]
    rule-priority = 1000
    [[fanout.instances.ports]]
      name = "vb0"
      peer = "vb1"
    [[fanout.instances.ports]]
      name = "eth2"
      addresses = ["203.0.113.1/24"]
`

func TestInstancesLoad(t *testing.T) {
	c, err := LoadBytes([]byte(instancesTOML), "toml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Instance{
		{Name: "default", Table: 100, Install: true, SourceV4: netip.MustParseAddr("192.0.2.1")},
		{Name: "blue", Table: 200, Install: true, Netns: "tenant1", Bridge: "br-blue",
			BridgeAddresses: []netip.Prefix{netip.MustParsePrefix("198.51.100.254/24"), netip.MustParsePrefix("2001:db8:1::fe/64")},
			RulePriority:    1000,
			Ports: []InstancePort{{Name: "vb0", Peer: "vb1", Addresses: nil},
				{Name: "eth2", Addresses: []netip.Prefix{netip.MustParsePrefix("203.0.113.1/24")}}}},
	}
	if !reflect.DeepEqual(c.Instances, want) {
		t.Fatalf("instances\n%+v\nwant\n%+v", c.Instances, want)
	}
}

func TestInstancesRefused(t *testing.T) {
	for _, c := range []struct{ body, key, msg string }{
		{`name = "red"`, "fanout.instances[0].name", `"red" is neither "default" nor the name of a vrf`},
		{`table = 100`, "fanout.instances[0].name", "missing"},
		{"name = \"default\"\ninstall = true", "fanout.instances[0].install", "needs a kernel table"},
		{"name = \"default\"\ntable = 255", "fanout.instances[0].table", "local table"},
		{"name = \"default\"\ntable = 0", "fanout.instances[0].table", ""},
		{"name = \"default\"\nrule-priority = 5", "fanout.instances[0].rule-priority", "needs a bridge"},
		{"name = \"default\"\nbridge = \"a-much-too-long-name\"", "fanout.instances[0].bridge", "not a link name"},
		{"name = \"default\"\nsource-v4 = \"::1\"", "fanout.instances[0].source-v4", "not an IPv4"},
		{"name = \"default\"\nbridge = \"b\"\nbridge-addresses = [\"10.0.0.1\"]", "fanout.instances[0].bridge-addresses[0]", "prefix length"},
		{"name = \"default\"\ncolour = 1", "fanout.instances[0].colour", "unknown key"},
		{"name = \"default\"\n[[fanout.instances.ports]]\npeer = \"x\"", "fanout.instances[0].ports[0].name", "missing"},
	} {
		text := "[global.config]\nas = 65000\nrouter-id = \"192.0.2.1\"\n[[fanout.instances]]\n" + c.body + "\n"
		_, err := LoadBytes([]byte(text), "toml")
		if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want %s: ...%s", c.body, err, c.key, c.msg)
		}
	}
	// Two instances on one table of one namespace.
	text := "[global.config]\nas = 65000\nrouter-id = \"192.0.2.1\"\n[[vrfs]]\n[vrfs.config]\nname = \"b\"\nrd = \"1:1\"\n" +
		"[[fanout.instances]]\nname = \"default\"\ntable = 7\n[[fanout.instances]]\nname = \"b\"\ntable = 7\n"
	if _, err := LoadBytes([]byte(text), "toml"); err == nil || !strings.Contains(err.Error(), "fanout.instances[1].table: 7 is already the table of fanout.instances[0]") {
		t.Errorf("shared table: %v", err)
	}
}
