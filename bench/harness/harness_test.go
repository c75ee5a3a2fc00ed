package harness

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/bench/gen"
	"github.com/fanoutd/fanout/bench/targets"
)

func f(x float64) *float64 { return &x }

func sampleRuns() []gen.Result {
	mk := func(t string, rpt int, secs *float64, ok bool) gen.Result {
		return gen.Result{Workload: "converge", Target: t, Repeat: rpt, OK: ok, Seconds: secs, Headline: "converge",
			Params: gen.DefaultParams("converge"), CPUSeconds: float64(rpt), PeakRSSBytes: int64(rpt) << 20,
			Updates: int64(100 * rpt), Prefixes: int64(1000 * rpt), Paths: 1 << 10}
	}
	fail := mk("frr", 3, nil, false)
	fail.Error = "phase converge did not converge\nmore"
	fail.TimedOut = true
	return []gen.Result{
		mk("bird", 1, f(3), true), mk("bird", 2, f(1), true), mk("bird", 3, f(2), true),
		mk("frr", 1, f(10), true), mk("frr", 2, f(12), true), fail,
	}
}

func TestMedianAndSummarize(t *testing.T) {
	if m := Median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("median of 5 1 3 = %v", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4 1 3 2 = %v", m)
	}
	s := Summarize(sampleRuns(), []NotRun{{Target: "frr", Workload: "converge", Repeat: 4, Why: "budget"}})
	if len(s) != 2 {
		t.Fatalf("%d summaries", len(s))
	}
	b, fr := s[0], s[1]
	if b.Target != "bird" || *b.Seconds != 2 || *b.MinSeconds != 1 || *b.MaxSeconds != 3 || b.OK != 3 || b.CPU != 2 || b.Updates != 200 {
		t.Errorf("bird: %+v", b)
	}
	if b.BytesPerPath() != 2<<10 || b.TimedOut != "" || b.NotRun != 0 {
		t.Errorf("bird: %v bytes per path, timed out %q, not run %d", b.BytesPerPath(), b.TimedOut, b.NotRun)
	}
	if fr.OK != 2 || fr.Runs != 3 || *fr.Seconds != 11 || len(fr.Errors) != 1 || fr.Errors[0] != "phase converge did not converge" ||
		fr.TimedOut != "2m0s" || fr.NotRun != 1 {
		t.Errorf("frr: %+v", fr)
	}
}

func TestReportRoundTripAndMarkdown(t *testing.T) {
	rep := &Report{Command: "fanout-bench run --repeat 3", Started: time.Unix(0, 0), Host: hostInfo(),
		Versions: map[string]string{"bird": "2.0.12", "frr": "8.4.4"}, Runs: sampleRuns()}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := Save(path, rep); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 6 || len(back.Summary) != 2 || back.Runs[5].Seconds != nil {
		t.Fatalf("loaded %+v", back)
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, back); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, want := range []string{"### converge", "| bird | 2.000 [1.000–3.000] | 2.00 | 2.0 | 2048 | 200 | 2000 | 0 | 3/3 |",
		"| frr | 11.000 [10.000–12.000]", "2/3", "- frr: phase converge did not converge", "| bird | 2.0.12 |",
		"fanout-bench run --repeat 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if err := WriteMarkdown(&md, &Report{}); err != ErrNoRuns {
		t.Errorf("empty report: %v", err)
	}
}

// TestRunFailedTarget: a fanoutd that cannot start is a failed run in the report, not a
// crash; an unknown target or workload is an error.
func TestRunFailedTarget(t *testing.T) {
	p := gen.DefaultParams("converge")
	p.Speakers, p.Prefixes, p.Receivers = 1, 10, 1
	cfg := Config{Targets: []string{"fanoutd"}, Workloads: []string{"converge"}, Repeat: 2,
		Fanoutd: filepath.Join(t.TempDir(), "no-fanoutd"), Params: map[string]gen.Params{"converge": p},
		ListenBase: netip.MustParseAddr("127.92.0.2"), Options: targets.Options{ReadyTimeout: 2 * time.Second}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].OK || !strings.Contains(rep.Runs[0].Error, "start") || rep.Summary[0].OK != 0 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	if len(rep.NotRun) != 1 || rep.NotRun[0].Repeat != 2 || rep.NotRun[0].Why != "an earlier repeat failed" || rep.Summary[0].NotRun != 1 {
		t.Errorf("the repeat after a failure: not run %+v, summary %+v", rep.NotRun, rep.Summary)
	}
	cfg.KeepGoing = true
	if rep, err = Run(context.Background(), cfg); err != nil || len(rep.Runs) != 2 || len(rep.NotRun) != 0 {
		t.Errorf("KeepGoing: %v, %d runs, not run %+v", err, len(rep.Runs), rep.NotRun)
	}
	// A deadline with less time left than the workload's timeout starts nothing.
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg.Now, cfg.Deadline = func() time.Time { return now }, now.Add(time.Minute)
	if rep, err = Run(context.Background(), cfg); err != nil || len(rep.Runs) != 0 || len(rep.NotRun) != 2 ||
		rep.NotRun[0].Why != "the time budget was spent" || !rep.Started.Equal(now) {
		t.Errorf("deadline: %v, %d runs, not run %+v", err, len(rep.Runs), rep.NotRun)
	}
	cfg.Now, cfg.Deadline = nil, time.Time{}
	cfg.Targets = []string{"nope"}
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Error("unknown target accepted")
	}
	cfg.Targets, cfg.Workloads = []string{"bird"}, []string{"nope"}
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Error("unknown workload accepted")
	}
}

// TestRunOneBIRD runs a tiny converge against BIRD through the harness and checks that the
// usage figures are filled in.
func TestRunOneBIRD(t *testing.T) {
	p := gen.DefaultParams("converge")
	p.Speakers, p.Prefixes, p.Receivers = 2, 500, 1
	p.PeerBase = "127.92.1.10"
	p.Timeout, p.Settle = gen.Duration(20*time.Second), gen.Duration(50*time.Millisecond)
	res := RunOne(context.Background(), targets.BIRD{}, netip.MustParseAddr("127.92.1.1"), "converge", p, Config{})
	if !res.OK || res.Seconds == nil || res.CPUSeconds <= 0 || res.PeakRSSBytes <= 0 || res.Updates == 0 {
		t.Fatalf("%+v", res)
	}
}

// A relative fanoutd path must survive the daemon starting in a directory of its own.
func TestNewTargetAbsoluteFanoutd(t *testing.T) {
	tg, err := NewTarget("fanoutd", "bin/fanoutd")
	if err != nil {
		t.Fatal(err)
	}
	f, ok := tg.(targets.Fanoutd)
	if !ok || !filepath.IsAbs(f.Binary) || !strings.HasSuffix(f.Binary, "/bin/fanoutd") {
		t.Fatalf("fanoutd target %+v", tg)
	}
}
