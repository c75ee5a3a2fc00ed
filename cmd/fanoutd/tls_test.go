package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/targets"
)

// writePKI writes a CA (ca.pem), a server certificate for ip (server.pem, server.key) and a
// client certificate (client.pem, client.key) into dir.
func writePKI(t *testing.T, dir string, ip netip.Addr) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fanout test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	for i, leaf := range []struct {
		name  string
		usage x509.ExtKeyUsage
	}{{"server", x509.ExtKeyUsageServerAuth}, {"client", x509.ExtKeyUsageClientAuth}} {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: leaf.name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{leaf.usage}, IPAddresses: []net.IP{ip.AsSlice()}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(leaf.name+".pem", "CERTIFICATE", der)
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(leaf.name+".key", "EC PRIVATE KEY", kder)
	}
}

// fanoutd -tls with a client CA serves the API over mutual TLS: the real CLI with a client
// certificate gets answers, without one it is refused.
func TestCLIOverMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := buildCLI(t, ctx)
	addr := netip.MustParseAddr("127.1.34.1")
	port, err := targets.FreePort(addr)
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := targets.FreePort(addr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writePKI(t, dir, addr)
	p := writeConfig(t, fmt.Sprintf("[global.config]\n  as = 65000\n  router-id = \"127.1.34.1\"\n  port = %d\n  local-address-list = [\"127.1.34.1\"]\n[fanout]\n  grpc-address = \"127.1.34.1:%d\"\n  http-address = \"127.0.0.1:0\"\n", port, apiPort))
	in := func(name string) string { return filepath.Join(dir, name) }

	var out safeBuffer
	if code := run([]string{"-f", p, "-tls-cert-file", in("server.pem")}, &out, nil); code != 2 || !strings.Contains(out.String(), "without -tls") {
		t.Fatalf("TLS files without -tls: exit %d: %s", code, out.String())
	}
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-f", p, "-tls", "-tls-cert-file", in("server.pem"), "-tls-key-file", in("server.key"),
			"-tls-client-ca-file", in("ca.pem")}, &out, sigs)
	}()
	waitFor(t, "the API listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.1.34.1:%d", apiPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	gobgp := func(args ...string) (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		defer ccancel()
		args = append([]string{"-u", "127.1.34.1", "-p", fmt.Sprint(apiPort), "--tls", "--tls-ca-file", in("ca.pem")}, args...)
		o, err := exec.CommandContext(cctx, cli, args...).CombinedOutput()
		return string(o), err
	}
	o, err := gobgp("--tls-client-cert-file", in("client.pem"), "--tls-client-key-file", in("client.key"), "global")
	if err != nil || !strings.Contains(o, "AS:        65000") {
		t.Fatalf("gobgp global over mutual TLS: %v: %s", err, o)
	}
	t.Logf("gobgp --tls ... global:\n%s", o)
	if o, err := gobgp("global"); err == nil {
		t.Fatalf("a client without a certificate was answered: %s", o)
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("fanoutd did not stop on SIGTERM")
	}
}
