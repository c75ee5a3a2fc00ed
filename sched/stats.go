package sched

import "time"

// KindStats is a snapshot of one kind's statistics, as Stats returns them. Queue wait is
// measured from the wake (or the requeue of a task that asked to run again) to the start of
// the run.
type KindStats struct {
	Kind      Kind
	Name      string
	Runs      uint64
	RunTotal  time.Duration
	RunMax    time.Duration
	WaitTotal time.Duration
	WaitMax   time.Duration
	Queued    int // tasks of this kind queued now
}

// kindCounters accumulates one kind's statistics; guarded by the scheduler's mu.
type kindCounters struct {
	runs               uint64
	runTotal, runMax   time.Duration
	waitTotal, waitMax time.Duration
	queued             int
}

func (k *kindCounters) record(wait, run time.Duration) {
	k.runs++
	k.runTotal += run
	k.runMax = max(k.runMax, run)
	k.waitTotal += wait
	k.waitMax = max(k.waitMax, wait)
}

// Stats returns a snapshot of every kind's statistics, indexed by Kind.
func (s *Scheduler) Stats() []KindStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]KindStats, len(s.stats))
	for i, k := range s.stats {
		out[i] = KindStats{
			Kind: Kind(i), Name: s.pol.specs[i].Name,
			Runs: k.runs, RunTotal: k.runTotal, RunMax: k.runMax,
			WaitTotal: k.waitTotal, WaitMax: k.waitMax, Queued: k.queued,
		}
	}
	return out
}
