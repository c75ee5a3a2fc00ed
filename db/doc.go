// Package db holds partitioned tables: the choice of partition from a hash the table's owner
// supplies, bounded per-partition input queues drained by db.partition tasks, listeners
// with per-listener state slots on entries, and walkers that visit a table partition by
// partition as low-priority db.walk tasks.
//
// db must not know about BGP attributes.
package db
