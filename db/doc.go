// Package db holds partitioned tables: the choice of partition from a hash the table's owner
// supplies, bounded per-partition input queues drained by db.partition tasks, listeners
// with per-listener state slots on entries, and walkers that visit a table partition by
// partition as low-priority db.walk tasks.
//
// A Table (New) is generic over a comparable key, the entry data and the request type. The
// owner supplies Hash, Empty and Apply; producers call Enqueue with one batch per partition;
// listeners (Register, Unregister) are told of every change in the same task and keep their
// state in a slot on the entry; RequestWalk shares walks between requests for one listener.
// The only locks are the input queues' and the walk bookkeeping's; entries are owned by
// their partition's tasks, as sched's policy table says.
//
// Memory is per entry: a partition keeps its entries in a dense slice of pointers (what
// walks and sweeps go down) and finds them by key through a compact open-addressing index
// of positions in that slice (index.go), not a map, so a key is stored once, in its entry.
//
// db must not know about BGP attributes.
package db
