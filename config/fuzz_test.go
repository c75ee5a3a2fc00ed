package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

var fuzzFormats = []string{"toml", "yaml", "json"}

// FuzzLoad: no input makes loading panic; what loads is valid; what fails fails with
// KeyErrors (or one parse error). Seeds: the files in testdata/config and the snippets below;
// format picks toml, yaml or json.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "config", "*"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		switch filepath.Ext(p) {
		case ".toml":
			f.Add(data, uint8(0))
		case ".yaml":
			f.Add(data, uint8(1))
		case ".json":
			f.Add(data, uint8(2))
		}
	}
	f.Add([]byte(DefaultTOML), uint8(0))
	f.Add([]byte("[global.config]\nas = 1\nrouter-id = \"1.1.1.1\"\n[[neighbors]]\n[neighbors.config]\nneighbor-address = \"fe80::1%eth0\"\npeer-as = 1\n"), uint8(0))
	f.Add([]byte("[global]\nconfig = { as = 4294967295, router-id = \"1.1.1.1\" }\nneighbors = [{config = {neighbor-address = \"::1\", peer-as = 2}}]\n"), uint8(0))
	f.Add([]byte("global: {config: {as: 1e3, router-id: 1.1.1.1}}\nvrfs: [{config: {name: a, rd: '1.2:3', both-rt-list: '1:1,2:2'}}]\n"), uint8(1))
	f.Add([]byte("a: &x [*x]\n"), uint8(1))
	f.Add([]byte(`{"global":{"config":{"as":1,"router-id":"1.1.1.1"}},"neighbors":[{"afi-safis":[{"config":{"afi-safi-name":1}}]}],"fanout":{"memory-limit":1e300}}`), uint8(2))
	f.Add([]byte(`{"fanout":{"sync":{"max-start-delay":-1e30},"route-reconcile-interval":"9999999999h"}}`), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		fm := fuzzFormats[int(format)%len(fuzzFormats)]
		c, err := load(data, fm, "fuzz."+fm, nil)
		if err != nil {
			if c != nil {
				t.Fatal("a Config with an error")
			}
			var ke *KeyError
			if errors.As(err, &ke) && (ke.Key == "" || ke.Msg == "") {
				t.Fatalf("empty KeyError %+v", ke)
			}
			_ = err.Error()
			return
		}
		if c.Global.AS == 0 || !c.Global.RouterID.Is4() {
			t.Fatalf("loaded without a valid global: %+v", c.Global)
		}
		seen := map[string]bool{}
		for _, n := range c.Neighbors {
			if !n.Address.IsValid() || seen[n.Address.String()] || n.PeerAS == 0 {
				t.Fatalf("bad neighbor %+v", n)
			}
			seen[n.Address.String()] = true
			if n.Timers.KeepaliveInterval > n.Timers.HoldTime {
				t.Fatalf("keepalive above hold: %+v", n.Timers)
			}
		}
		if d := Diff(c, c); !d.Empty() {
			t.Fatalf("a config differs from itself:\n%s", d)
		}
	})
}
