package sched

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// world is shared state with no synchronisation at all: each field is safe only because
// the program's policy table keeps its writers apart. The stress test runs it under -race.
type world struct {
	parts    [6]int   // db.partition p, db.walk p, bgp.membership, bgp.config
	groups   [4]int   // bgp.send g, bgp.membership, bgp.config
	members  int      // written by bgp.membership and bgp.config; read by bgp.send, db.partition
	sessions [5]int   // bgp.session s, bgp.config
	global   int      // written by bgp.config only; read by everyone
	slices   [32]int8 // cooperative progress of each handle; owned by its (kind, instance)
}

// running counts the tasks of each kind that are running right now, to assert the
// exclusions directly as well as through the race detector.
type running [6]atomic.Int32

func (r *running) n(k Kind) int32 { return r[k].Load() }

func TestPolicyStress(t *testing.T) {
	s := newSched(t, WithWorkers(4))
	w := &world{}
	var run running
	var fails atomic.Int32
	var mu sync.Mutex
	var failMsgs []string
	fail := func(format string, args ...any) {
		if fails.Add(1) <= 5 {
			mu.Lock()
			failMsgs = append(failMsgs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	}
	var runs [6]atomic.Int64

	body := func(k Kind, inst int, slot int) Func {
		return func(c *Ctx) Result {
			run[k].Add(1)
			defer run[k].Add(-1)
			runs[k].Add(1)
			_ = w.global
			switch k {
			case BGPConfig:
				Check(c, BGPConfig)
				for o := range run {
					if n := run.n(Kind(o)); (Kind(o) == BGPConfig && n != 1) || (Kind(o) != BGPConfig && n != 0) {
						fail("bgp.config beside %d %s", n, s.KindName(Kind(o)))
					}
				}
				w.global++
				w.members++
				for i := range w.parts {
					w.parts[i]++
				}
				for i := range w.groups {
					w.groups[i]++
				}
				for i := range w.sessions {
					w.sessions[i]++
				}
			case BGPSession:
				Check(c, BGPSession)
				w.sessions[inst]++
			case DBPartition:
				CheckInstance(c, DBPartition, inst)
				if run.n(BGPMembership) != 0 {
					fail("db.partition beside bgp.membership")
				}
				_ = w.members
				w.parts[inst]++
			case DBWalk:
				Check(c, DBWalk)
				w.parts[inst] += 2
			case BGPSend:
				Check(c, BGPSend)
				if run.n(BGPMembership) != 0 {
					fail("bgp.send beside bgp.membership")
				}
				_ = w.members
				w.groups[inst]++
			case BGPMembership:
				CheckExcludes(c, BGPSend, DBPartition, DBWalk)
				if n := run.n(BGPSend) + run.n(DBPartition) + run.n(DBWalk); n != 0 {
					fail("bgp.membership beside %d send/partition/walk tasks", n)
				}
				w.members++
				for i := range w.parts {
					w.parts[i]++
				}
				for i := range w.groups {
					w.groups[i]++
				}
			}
			if slot >= 0 { // a handle: do the work in up to three slices
				w.slices[slot]++
				if w.slices[slot]%3 != 0 {
					return Again
				}
			}
			return Done
		}
	}

	instances := map[Kind]int{BGPConfig: 1, BGPSession: 5, DBPartition: 6, DBWalk: 6, BGPSend: 4, BGPMembership: 1}
	var handles []*Task
	for k := BGPConfig; k <= BGPMembership; k++ {
		for i := range instances[k] {
			if k == BGPConfig {
				continue // config is only ever a one-shot, and rare
			}
			h, err := s.NewTask(k, i, body(k, i, len(handles)))
			if err != nil {
				t.Fatal(err)
			}
			handles = append(handles, h)
		}
	}
	if len(handles) > len(w.slices) {
		t.Fatalf("%d handles, %d slots", len(handles), len(w.slices))
	}

	const producers, perProducer = 3, 150000
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 7))
			for i := range perProducer {
				if i%256 == 0 && time.Now().After(deadline) {
					return
				}
				switch r := rng.IntN(1000); {
				case r < 2:
					_ = s.Run(BGPConfig, 0, body(BGPConfig, 0, -1))
				case r < 10:
					_ = s.Run(BGPMembership, 0, body(BGPMembership, 0, -1))
				case r < 400:
					k := Kind(1 + rng.IntN(4)) // session, partition, walk, send
					inst := rng.IntN(instances[k])
					_ = s.Run(k, inst, body(k, inst, -1))
				default:
					_ = handles[rng.IntN(len(handles))].Wake()
				}
			}
		}()
	}
	wg.Wait()
	waitIdle(t, s)

	if n := fails.Load(); n > 0 {
		t.Fatalf("%d exclusion violations, first: %s", n, strings.Join(failMsgs, "; "))
	}
	total := int64(0)
	for k := range runs {
		total += runs[k].Load()
	}
	if runs[BGPConfig].Load() == 0 || runs[BGPMembership].Load() == 0 || total < 10000 {
		t.Fatalf("too little work to mean anything: %d runs, per kind %v", total, &runs)
	}
	// Every increment must have landed: no write was lost to a concurrent one.
	cfg, mem := int(runs[BGPConfig].Load()), int(runs[BGPMembership].Load())
	sum := 0
	for _, v := range w.parts {
		sum += v
	}
	if want := int(runs[DBPartition].Load()) + 2*int(runs[DBWalk].Load()) + len(w.parts)*(cfg+mem); sum != want {
		t.Fatalf("partition counters sum to %d, want %d", sum, want)
	}
	if w.members != cfg+mem || w.global != cfg {
		t.Fatalf("members %d global %d, want %d and %d", w.members, w.global, cfg+mem, cfg)
	}
	t.Logf("%d task runs", total)
}

// recovered runs fn and returns the message it panicked with ("" if it did not).
func recovered(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	fn()
	return ""
}

// A deliberately wrong policy: test.writer should exclude test.reader but the table forgets
// to say so. Code that relies on the exclusion states it, and the checker catches the task
// that calls it.
func TestCheckerCatchesWrongPolicy(t *testing.T) {
	const (
		reader Kind = iota
		writer
		admin
	)
	wrong := []KindSpec{
		reader: {Name: "test.reader"},
		writer: {Name: "test.writer"}, // the bug: missing Excludes: {{Kind: reader}}
		admin:  {Name: "test.admin", ExcludesAll: true},
	}
	s := newSched(t, WithWorkers(2), WithPolicy(wrong), WithChecking(true))
	// rewrite relies on no reader running: it states so with CheckExcludes.
	rewrite := func(c *Ctx) { CheckExcludes(c, reader) }
	// readerOnly may be called only by readers.
	readerOnly := func(c *Ctx) { Check(c, reader) }

	var msgs [4]string
	run := func(k Kind, inst int, fn func(c *Ctx) string, out *string) {
		if err := s.Run(k, inst, func(c *Ctx) Result { *out = fn(c); return Done }); err != nil {
			t.Fatal(err)
		}
	}
	run(writer, 3, func(c *Ctx) string { return recovered(func() { rewrite(c) }) }, &msgs[0])
	run(admin, 0, func(c *Ctx) string { return recovered(func() { rewrite(c) }) }, &msgs[1])
	run(writer, 4, func(c *Ctx) string { return recovered(func() { readerOnly(c) }) }, &msgs[2])
	run(reader, 5, func(c *Ctx) string { return recovered(func() { CheckInstance(c, reader, 6) }) }, &msgs[3])
	waitIdle(t, s) // orders the tasks' writes before the reads below

	wantMsgs := []string{
		"want a kind excluding all of [test.reader], called from test.writer instance 3",
		"",
		"want one of [test.reader], called from test.writer instance 4",
		"want test.reader instance 6, called from test.reader instance 5",
	}
	for i, want := range wantMsgs {
		if (want == "") != (msgs[i] == "") || !strings.Contains(msgs[i], want) {
			t.Errorf("case %d: panic %q, want one containing %q", i, msgs[i], want)
		}
	}

	if msg := recovered(func() { Check(nil, DBPartition, DBWalk) }); !strings.Contains(msg, "want [db.partition, db.walk], called from outside any task") {
		t.Errorf("outside any task: panic %q", msg)
	}
}

func TestCheckingOff(t *testing.T) {
	s := newSched(t, WithWorkers(1), WithChecking(false))
	var msg string
	if err := s.Run(BGPSend, 0, func(c *Ctx) Result {
		msg = recovered(func() {
			Check(c, DBPartition)
			CheckInstance(c, BGPSend, 9)
			CheckExcludes(c, DBPartition)
		})
		return Done
	}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	if forceCheck { // the schedcheck build tag overrides WithChecking(false)
		if msg == "" {
			t.Fatal("schedcheck build tag, yet no panic")
		}
		return
	}
	if msg != "" {
		t.Fatalf("checking off, yet: %s", msg)
	}
}

func TestCheckAllocs(t *testing.T) {
	c := &Ctx{check: true, kind: DBPartition, inst: 2}
	if n := testing.AllocsPerRun(100, func() {
		Check(c, BGPSend, DBPartition)
		CheckInstance(c, DBPartition, 2)
	}); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

func TestExcludesAllNotStarved(t *testing.T) {
	s := newSched(t, WithWorkers(2))
	var stop atomic.Bool
	for i := range 4 {
		h, err := s.NewTask(DBPartition, i, func(*Ctx) Result {
			spin(20 * time.Microsecond)
			if stop.Load() {
				return Done
			}
			return Again
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	ran := make(chan struct{})
	time.Sleep(5 * time.Millisecond)
	if err := s.Run(BGPConfig, 0, func(*Ctx) Result { close(ran); return Done }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Error("bgp.config starved by a steady stream of db.partition slices")
	}
	stop.Store(true)
	waitIdle(t, s)
}

// spin burns CPU for about d without sleeping, standing in for a task's work.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

func TestUnknownKind(t *testing.T) {
	s := newSched(t, WithWorkers(1))
	if _, err := s.NewTask(Kind(99), 0, func(*Ctx) Result { return Done }); err == nil {
		t.Fatal("NewTask accepted an unknown kind")
	}
	if err := s.Run(Kind(99), 0, func(*Ctx) Result { return Done }); err == nil {
		t.Fatal("Run accepted an unknown kind")
	}
}
