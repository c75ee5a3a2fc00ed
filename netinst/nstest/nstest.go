// Package nstest makes network namespaces for tests that need a real kernel: it creates one
// with `ip netns add` (named after the test's purpose and the process id, so parallel runs
// do not collide), removes it when the test ends, and runs `ip -n NS ...` in it. Without root
// the test is skipped, saying why; nothing else skips.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// New creates the namespace fanout-NAME-PID with its loopback up and returns its name; it
// is deleted in tb.Cleanup.
func New(tb testing.TB, name string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create a network namespace (CI and make test run as root)")
	}
	ns := fmt.Sprintf("fanout-%s-%d", name, os.Getpid())
	_ = exec.Command("ip", "netns", "del", ns).Run() // left by a killed run
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	IP(tb, ns, "link", "set", "lo", "up")
	return ns
}

// IP runs `ip -n ns args...` and returns its output; a failure fails the test.
func IP(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}
