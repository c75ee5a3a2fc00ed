package bgp

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanoutd/fanout/proto"
)

// TestFSMScripts runs the scenario scripts in testdata/fsm. A script is a series of
// blocks: a "config k=v ..." line starts a new FSM; an unindented line is an event (its
// RFC 4271 §8.1 name, optionally hold=DURATION for BGPOpen and err=CODE/SUB for error
// events); the indented lines under it are the expected state, then the expected actions
// in order. "#" starts a comment.
func TestFSMScripts(t *testing.T) {
	files, err := filepath.Glob("../testdata/fsm/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no FSM scripts found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runFSMScript(t, file) })
	}
}

var eventByName = func() map[string]EventKind {
	m := map[string]EventKind{}
	for k, v := range eventNames {
		m[v] = k
	}
	return m
}()

type fsmStep struct {
	line   int
	event  Event
	text   string
	expect []string
}

func runFSMScript(t *testing.T, file string) {
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var fsm *FSM
	var pending *fsmStep
	steps := 0
	flush := func() {
		if pending == nil {
			return
		}
		p := pending
		pending = nil
		if fsm == nil {
			t.Fatalf("%s:%d: event before any config line", file, p.line)
		}
		if len(p.expect) == 0 {
			t.Fatalf("%s:%d: event %q has no expected state", file, p.line, p.text)
		}
		acts := fsm.Step(p.event)
		got := []string{fsm.State().String()}
		for _, a := range acts {
			got = append(got, a.String())
		}
		if strings.Join(got, "\n") != strings.Join(p.expect, "\n") {
			t.Errorf("%s:%d: after %s\n got:\n  %s\nwant:\n  %s", file, p.line, p.text,
				strings.Join(got, "\n  "), strings.Join(p.expect, "\n  "))
		}
		steps++
	}
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		if i := strings.Index(raw, "#"); i >= 0 {
			raw = raw[:i]
		}
		if strings.TrimSpace(raw) == "" {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if pending == nil {
				t.Fatalf("%s:%d: expectation without an event", file, n)
			}
			pending.expect = append(pending.expect, strings.TrimSpace(raw))
			continue
		}
		flush()
		fields := strings.Fields(raw)
		if fields[0] == "config" {
			cfg, err := parseFSMConfig(fields[1:])
			if err != nil {
				t.Fatalf("%s:%d: %v", file, n, err)
			}
			fsm = NewFSM(cfg)
			continue
		}
		ev, err := parseFSMEvent(fields)
		if err != nil {
			t.Fatalf("%s:%d: %v", file, n, err)
		}
		pending = &fsmStep{line: n, event: ev, text: raw}
	}
	flush()
	if steps == 0 {
		t.Fatalf("%s: no steps", file)
	}
}

func parseFSMConfig(args []string) (FSMConfig, error) {
	cfg := FSMConfig{HoldTime: 90 * time.Second, ConnectRetryTime: 120 * time.Second}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return cfg, fmt.Errorf("config: %q is not key=value", a)
		}
		if k == "passive" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, err
			}
			cfg.Passive = b
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("config %s: %v", k, err)
		}
		switch k {
		case "hold":
			cfg.HoldTime = d
		case "keepalive":
			cfg.KeepaliveTime = d
		case "connect-retry":
			cfg.ConnectRetryTime = d
		case "open-hold":
			cfg.OpenHoldTime = d
		case "idle-hold":
			cfg.IdleHoldTime = d
		case "max-idle-hold":
			cfg.MaxIdleHoldTime = d
		case "max-connect-retry":
			cfg.MaxConnectRetryTime = d
		case "stable":
			cfg.StableTime = d
		default:
			return cfg, fmt.Errorf("config: unknown key %q", k)
		}
	}
	return cfg, nil
}

func parseFSMEvent(fields []string) (Event, error) {
	kind, ok := eventByName[fields[0]]
	if !ok {
		return Event{}, fmt.Errorf("unknown event %q", fields[0])
	}
	ev := Event{Kind: kind}
	for _, a := range fields[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "hold":
			d, err := time.ParseDuration(v)
			if err != nil {
				return ev, err
			}
			ev.HoldTime = d
		case "err":
			c, s, _ := strings.Cut(v, "/")
			code, err1 := strconv.Atoi(c)
			sub, err2 := strconv.Atoi(s)
			if err1 != nil || err2 != nil {
				return ev, fmt.Errorf("bad err=%q", v)
			}
			ev.Err = &proto.Error{Action: proto.ActionSessionReset, Code: uint8(code), Subcode: uint8(sub)}
		default:
			return ev, fmt.Errorf("unknown event argument %q", a)
		}
	}
	return ev, nil
}
