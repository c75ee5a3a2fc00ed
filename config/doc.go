// Package config loads fanout's configuration with viper (TOML, YAML or JSON in gobgpd's
// schema for the features fanout supports, environment overrides, flags), validates it with
// errors that name the key, the value and the reason, and diffs old and new configurations
// for reload. It hands out plain validated structs.
//
// config must not start anything.
package config
