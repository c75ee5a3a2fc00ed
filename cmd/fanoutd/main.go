// Command fanoutd is the fanout BGP route server and route reflector daemon.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses the flags and starts the daemon; it returns the process exit code.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("fanoutd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "configuration file (TOML, YAML or JSON in gobgpd's schema); empty: the built-in loopback default")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	_ = file
	// The BGP server (bgp.Server) is built by the sessions issue; until it lands the daemon
	// says so instead of pretending to run.
	fmt.Fprintln(stderr, "fanoutd: the BGP server is not built yet; this tree has the codec and foundations only")
	return 1
}
