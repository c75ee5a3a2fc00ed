package sched

import (
	"errors"
	"fmt"
)

// The program's task kinds. Each constant is an index into ProgramKinds, so a Kind is a
// small integer that costs nothing to compare.
const (
	// BGPConfig applies configuration changes. It runs alone: it excludes every other task.
	BGPConfig Kind = iota
	// BGPSession is session work (OPEN handling, FSM events, keepalives). High priority so it
	// is never queued behind routing work; it excludes nothing but BGPConfig.
	BGPSession
	// DBPartition drains one partition's input queue; the instance is the partition.
	DBPartition
	// DBWalk visits one partition's entries for a table walk; the instance is the partition.
	// Low priority: bulk re-synchronisation yields to routing and session work.
	DBWalk
	// BGPSend dequeues and sends the updates of one scheduling group; the instance is the
	// group.
	BGPSend
	// BGPMembership changes which peers belong to which RibOut and scheduling group.
	BGPMembership
)

// ProgramKinds returns the program's policy table: every task kind fanout runs, its
// priority, and what it never runs beside. It is the one place where the program's
// concurrency can be read; add a kind by adding a constant above and a row here.
//
// Exclusions are symmetric: if A excludes B, B also never starts beside A. Two tasks of the
// same kind and instance never run together, whatever the table says.
func ProgramKinds() []KindSpec {
	return []KindSpec{
		BGPConfig:  {Name: "bgp.config", Priority: Normal, ExcludesAll: true},
		BGPSession: {Name: "bgp.session", Priority: High},
		DBPartition: {Name: "db.partition", Priority: Normal, Excludes: []Exclusion{
			{Kind: DBPartition, SameInstance: true},
			{Kind: BGPMembership},
		}},
		DBWalk: {Name: "db.walk", Priority: Low, Excludes: []Exclusion{
			{Kind: DBPartition, SameInstance: true},
		}},
		BGPSend: {Name: "bgp.send", Priority: Normal, Excludes: []Exclusion{
			{Kind: BGPSend, SameInstance: true},
			{Kind: BGPMembership},
		}},
		BGPMembership: {Name: "bgp.membership", Priority: Normal, Excludes: []Exclusion{
			{Kind: BGPSend},
			{Kind: DBPartition},
			{Kind: DBWalk},
		}},
	}
}

// Kind identifies a task kind: an index into the policy table the scheduler was built with
// (ProgramKinds unless a test supplied its own through WithPolicy).
type Kind uint16

// Priority orders queued tasks. The zero value is Normal.
type Priority uint8

const (
	// Normal is routing work: partition drains and sends.
	Normal Priority = iota
	// High is session work. A queued high task starts as soon as a worker is free and its
	// exclusions allow, ahead of every normal and low task.
	High
	// Low is bulk re-synchronisation (walks). At least one pick in every LowEvery (see
	// WithLowEvery) goes to a runnable low task, so low work is never starved by normal work.
	Low
	numPriorities = 3
)

// queueIndex maps a priority to its queue: high first, then normal, then low.
func (p Priority) queueIndex() int {
	switch p {
	case High:
		return 0
	case Low:
		return 2
	default:
		return 1
	}
}

func (p Priority) String() string {
	switch p {
	case High:
		return "high"
	case Normal:
		return "normal"
	case Low:
		return "low"
	}
	return fmt.Sprintf("priority(%d)", uint8(p))
}

// KindSpec declares one task kind: one row of a policy table.
type KindSpec struct {
	// Name is the kind's name as metrics, logs and checker messages show it ("db.partition").
	Name string
	// Priority is the priority of every task of this kind.
	Priority Priority
	// ExcludesAll makes a task of this kind run alone: nothing else starts while it runs,
	// and while it waits no task conflicting with it overtakes it.
	ExcludesAll bool
	// Excludes lists the kinds this kind never runs beside.
	Excludes []Exclusion
}

// Exclusion says a kind never runs beside Kind; with SameInstance, only beside Kind's task
// of the same instance number.
type Exclusion struct {
	Kind         Kind
	SameInstance bool
}

// conflict levels in a compiled policy.
const (
	conflictNone uint8 = iota
	conflictSame       // conflicts only with the same instance
	conflictAny        // conflicts with every instance
)

// policy is a compiled, immutable policy table. It is shared read-only by a scheduler's
// workers and by every Ctx it hands out; one per scheduler, alive as long as it is.
type policy struct {
	specs []KindSpec
	n     int
	// conflict is an n×n symmetric matrix of conflict levels, row-major by kind.
	conflict []uint8
}

var errPolicy = errors.New("sched: invalid policy table")

func compilePolicy(specs []KindSpec) (*policy, error) {
	n := len(specs)
	if n == 0 || n > 1<<12 {
		return nil, fmt.Errorf("%w: %d kinds", errPolicy, n)
	}
	p := &policy{specs: append([]KindSpec(nil), specs...), n: n, conflict: make([]uint8, n*n)}
	names := make(map[string]bool, n)
	set := func(a, b Kind, level uint8) {
		i, j := int(a)*n+int(b), int(b)*n+int(a)
		p.conflict[i] = max(p.conflict[i], level)
		p.conflict[j] = max(p.conflict[j], level)
	}
	for i, s := range specs {
		if s.Name == "" || names[s.Name] {
			return nil, fmt.Errorf("%w: kind %d has an empty or repeated name %q", errPolicy, i, s.Name)
		}
		names[s.Name] = true
		if s.Priority >= numPriorities {
			return nil, fmt.Errorf("%w: kind %q has %v", errPolicy, s.Name, s.Priority)
		}
		set(Kind(i), Kind(i), conflictSame)
		if s.ExcludesAll {
			for j := range specs {
				set(Kind(i), Kind(j), conflictAny)
			}
		}
		for _, e := range s.Excludes {
			if int(e.Kind) >= n {
				return nil, fmt.Errorf("%w: kind %q excludes unknown kind %d", errPolicy, s.Name, e.Kind)
			}
			level := conflictAny
			if e.SameInstance {
				level = conflictSame
			}
			set(Kind(i), e.Kind, level)
		}
	}
	return p, nil
}

func (p *policy) name(k Kind) string {
	if int(k) < p.n {
		return p.specs[k].Name
	}
	return fmt.Sprintf("kind(%d)", uint16(k))
}

// conflicts reports whether a task of kind a, instance ai may not run beside one of kind b,
// instance bi.
func (p *policy) conflicts(a Kind, ai int, b Kind, bi int) bool {
	switch p.conflict[int(a)*p.n+int(b)] {
	case conflictAny:
		return true
	case conflictSame:
		return ai == bi
	}
	return false
}
