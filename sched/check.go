package sched

import (
	"fmt"
	"strings"
	"testing"
)

// noKind marks a worker's Ctx between tasks.
const noKind = Kind(1<<16 - 1)

// Ctx describes the task a worker is running: its kind, its instance and its scheduler.
// Each worker owns one Ctx and reuses it for every task; a task's function receives it and
// may pass it down to code that states its policy with Check, but must not keep it after
// returning. A nil *Ctx means "outside any task".
type Ctx struct {
	s     *Scheduler
	check bool
	kind  Kind
	inst  int
}

// Kind returns the running task's kind.
func (c *Ctx) Kind() Kind { return c.kind }

// Instance returns the running task's instance number.
func (c *Ctx) Instance() int { return c.inst }

// Scheduler returns the scheduler running the task.
func (c *Ctx) Scheduler() *Scheduler { return c.s }

// checkDefault is whether checking is on when no option says otherwise: always under the
// schedcheck build tag, and in test binaries.
func checkDefault() bool { return forceCheck || testing.Testing() }

// Check states that the caller may run only inside a task of one of kinds. With checking
// on, a call from a task of another kind, or from outside any task (c == nil), panics with
// a message naming the expected kinds and the actual caller. With checking off it returns
// at once. For a nil c, checking follows the default (test binaries and the schedcheck tag).
func Check(c *Ctx, kinds ...Kind) {
	if c != nil && !c.check {
		return // inlined: the whole cost when checking is off
	}
	check(c, kinds)
}

func check(c *Ctx, kinds []Kind) {
	if c == nil {
		if checkDefault() {
			failOutside(kinds)
		}
		return
	}
	if !c.check {
		return
	}
	for _, k := range kinds {
		if k == c.kind {
			return
		}
	}
	c.fail("one of", kinds)
}

// CheckInstance states that the caller may run only inside the task of kind k and instance
// inst (a partition's drain, for example). Checking works as for Check.
func CheckInstance(c *Ctx, k Kind, inst int) {
	if c != nil && (!c.check || (c.kind == k && c.inst == inst)) {
		return
	}
	checkInstance(c, k, inst)
}

func checkInstance(c *Ctx, k Kind, inst int) {
	if c == nil {
		if checkDefault() {
			failOutside([]Kind{k})
		}
		return
	}
	panic(fmt.Sprintf("sched: concurrency check failed: want %s instance %d, called from %s",
		c.s.pol.name(k), inst, c.describe()))
}

// CheckExcludes states that the caller must run in a task whose kind excludes every
// instance of each of kinds, so none of them can be running (registering a listener on a
// table, for example, needs every db.partition and db.walk stopped). It reads the answer
// from the policy table rather than naming the allowed kinds. Checking works as for Check.
func CheckExcludes(c *Ctx, kinds ...Kind) {
	if c != nil && !c.check {
		return
	}
	checkExcludes(c, kinds)
}

func checkExcludes(c *Ctx, kinds []Kind) {
	if c == nil {
		if checkDefault() {
			failOutside(kinds)
		}
		return
	}
	if !c.check {
		return
	}
	for _, k := range kinds {
		if c.kind == noKind || int(k) >= c.s.pol.n || c.s.pol.conflict[int(c.kind)*c.s.pol.n+int(k)] != conflictAny {
			c.fail("a kind excluding all of", kinds)
		}
	}
}

func (c *Ctx) describe() string {
	if c.kind == noKind {
		return "outside any task"
	}
	return fmt.Sprintf("%s instance %d", c.s.pol.name(c.kind), c.inst)
}

func (c *Ctx) fail(what string, kinds []Kind) {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = c.s.pol.name(k)
	}
	panic(fmt.Sprintf("sched: concurrency check failed: want %s [%s], called from %s",
		what, strings.Join(names, ", "), c.describe()))
}

// failOutside reports a call with no Ctx. Without a scheduler the kinds are named from the
// program's table.
func failOutside(kinds []Kind) {
	specs := ProgramKinds()
	names := make([]string, len(kinds))
	for i, k := range kinds {
		if int(k) < len(specs) {
			names[i] = specs[k].Name
		} else {
			names[i] = fmt.Sprintf("kind(%d)", uint16(k))
		}
	}
	panic(fmt.Sprintf("sched: concurrency check failed: want [%s], called from outside any task",
		strings.Join(names, ", ")))
}
