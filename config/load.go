package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// Load reads the configuration file at path (TOML, YAML or JSON, told by the extension: .toml,
// .yaml, .yml or .json; anything else is read as TOML, gobgpd's default), applies FANOUT_*
// environment overrides and validates it. On failure it returns every problem found, each a
// *KeyError naming the file, line, key, value and reason, joined with errors.Join.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	format := "toml"
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		format = "yaml"
	case ".json":
		format = "json"
	}
	return load(data, format, path, environ())
}

// LoadBytes is Load for configuration text that is not in a file; format is "toml", "yaml"
// (or "yml") or "json". Errors name no file.
func LoadBytes(data []byte, format string) (*Config, error) {
	f, err := normalizeFormat(format)
	if err != nil {
		return nil, err
	}
	return load(data, f, "", environ())
}

// LoadDefault returns the built-in default configuration (Default) with FANOUT_* environment
// overrides applied and validated: what the daemon runs when it is given no file.
func LoadDefault() (*Config, error) {
	return load([]byte(DefaultTOML), "toml", "<built-in default>", environ())
}

func normalizeFormat(format string) (string, error) {
	switch f := strings.ToLower(strings.TrimPrefix(format, ".")); f {
	case "toml", "json":
		return f, nil
	case "yaml", "yml":
		return "yaml", nil
	}
	return "", fmt.Errorf("config: unknown format %q (use toml, yaml or json)", format)
}

// envNamespaces are the prefixes of the variables that address configuration keys. A
// variable under one of them that matches no key is an error, like an unknown key in a file;
// other FANOUT_* variables are left alone.
var envNamespaces = []string{"FANOUT_GLOBAL_", "FANOUT_NEIGHBORS_", "FANOUT_PEER_GROUPS_",
	"FANOUT_DYNAMIC_NEIGHBORS_", "FANOUT_VRFS_", "FANOUT_FANOUT_"}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "FANOUT_") {
			env[k] = v
		}
	}
	return env
}

// load parses data with viper, decodes and validates it. env holds the FANOUT_* variables.
func load(data []byte, format, file string, env map[string]string) (*Config, error) {
	tree, err := parse(data, format)
	if err != nil {
		if file != "" {
			return nil, fmt.Errorf("config: %s: %w", file, err)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	d := &decoder{env: env, envUsed: map[string]bool{}}
	c := d.decode(tree)
	var unused []string
	for k := range env {
		if !d.envUsed[k] && slices.ContainsFunc(envNamespaces, func(p string) bool { return strings.HasPrefix(k, p) }) {
			unused = append(unused, k)
		}
	}
	slices.Sort(unused)
	for _, k := range unused {
		d.errs = append(d.errs, &KeyError{Key: "$" + k, Env: k, Msg: "matches no configuration key (or names a list entry the file does not have)"})
	}
	if len(d.errs) == 0 {
		return c, nil
	}
	ix := indexLines(data, format)
	for _, e := range d.errs {
		e.File = file
		if e.Env == "" {
			e.Line = ix.find(e.Key)
		}
	}
	// File order; what has no line (environment) last.
	slices.SortStableFunc(d.errs, func(a, b *KeyError) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return nil, errors.Join(errs...)
}

// parse reads the text into a tree of maps and lists with viper. Keys come out lower-cased.
// A panic inside a parser is turned into an error: bad input never takes the daemon down.
func parse(data []byte, format string) (tree map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			tree, err = nil, fmt.Errorf("cannot parse %s: %v", format, r)
		}
	}()
	v := viper.NewWithOptions(viper.KeyDelimiter("\x00"))
	v.SetConfigType(format)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, err
	}
	return v.AllSettings(), nil
}

// DefaultTOML is the built-in default configuration: a route server on loopback that needs
// no root. It listens for BGP on 127.0.0.1:1790 (an unprivileged port) as AS 65000 with
// router-id 127.0.0.1 and has no neighbors: peers are added through the gRPC API
// (`gobgp neighbor add`) or by giving a file. It accepts no unconfigured peer, because a
// default that let any local process peer would surprise. Everything else takes the usual
// defaults: gRPC on 127.0.0.1:50051, metrics on 127.0.0.1:9179.
const DefaultTOML = `# fanoutd's built-in default configuration.
[global.config]
  as = 65000
  router-id = "127.0.0.1"
  port = 1790
  local-address-list = ["127.0.0.1"]

[fanout]
  http-address = "127.0.0.1:9179"
  grpc-address = "127.0.0.1:50051"
`

// Default returns the built-in default configuration, DefaultTOML, without environment
// overrides (LoadDefault applies them).
func Default() *Config {
	return &Config{
		Global: Global{
			AS:             65000,
			RouterID:       netip.AddrFrom4([4]byte{127, 0, 0, 1}),
			Port:           1790,
			LocalAddresses: []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})},
		},
		Fanout: defaultFanout(),
	}
}
