// Package api serves GoBGP's v3 gRPC API (github.com/osrg/gobgp/v3/api) on top of a
// bgp.Server, so the stock gobgp CLI and existing automation manage fanout unchanged.
// RPCs that fanout does not support answer codes.Unimplemented with a sentence naming them.
package api
