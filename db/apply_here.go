package db

import "github.com/fanoutd/fanout/sched"

// ApplyHere applies op to k's entry and notifies t's listeners at once, in the calling
// db.partition task, with no queue in between (a queue would reorder the change and could
// block the task). It is for listeners that keep two tables of one partition in step (VRF
// import and export): tables whose hashes agree, so k's partition of t is the instance of
// the task running, which is checked. Two db.partition tasks of one instance never run
// together, whatever the table, so the caller owns that partition of t as well.
func (t *Table[K, D, R]) ApplyHere(c *sched.Ctx, k K, op R) {
	part := t.PartitionOf(k)
	sched.CheckInstance(c, sched.DBPartition, part)
	t.parts[part].applyOne(c, k, op)
}
