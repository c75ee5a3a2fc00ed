package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no args: code %d, %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"report"}, &out, &errb); code != 1 {
		t.Errorf("report without a file: code %d", code)
	}
}

// TestRunAndReport runs the harness with a fanoutd that does not exist (a failed run, not a
// crash), then writes the markdown report of the results file.
func TestRunAndReport(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "results.json")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"run", "--targets", "fanoutd", "--fanoutd", filepath.Join(dir, "none"),
		"--workloads", "converge", "--repeat", "1", "--speakers", "1", "--prefixes", "10", "--receivers", "1",
		"--listen", "127.93.0.2", "--out", res, "-q"}, &out, &errb)
	if code != 0 {
		t.Fatalf("run: code %d\n%s\n%s", code, out.String(), errb.String())
	}
	b, err := os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Runs []struct {
			OK     bool `json:"ok"`
			Params struct {
				Prefixes int `json:"prefixes"`
			} `json:"params"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Runs) != 1 || rep.Runs[0].OK || rep.Runs[0].Params.Prefixes != 10 {
		t.Fatalf("results %s: %v", b, err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"report", res}, &out, &errb); code != 0 {
		t.Fatalf("report: code %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "### converge") || !strings.Contains(out.String(), "| fanoutd | failed |") {
		t.Errorf("markdown:\n%s", out.String())
	}
}

func TestGenPrintConfig(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"gen", "--workload", "converge", "--target", "127.0.0.2:1790",
		"--speakers", "2", "--receivers", "1", "--prefixes", "10", "--print-config"}, &out, &errb)
	if code != 0 || strings.Count(out.String(), "[[neighbors]]") != 3 || !strings.Contains(out.String(), `neighbor-address = "127.0.1.1"`) {
		t.Errorf("code %d: %s %s", code, out.String(), errb.String())
	}
}
