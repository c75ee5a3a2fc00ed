// Package sched is the task scheduler: a fixed pool of workers running tasks of registered
// kinds and instances under exclusion policies declared once, in policy.go, instead of
// mutexes scattered through routing state. It owns priorities, cooperative re-running,
// coalescing of repeated wakes, per-kind statistics, and the concurrency checker that makes a
// call from the wrong task panic in tests.
//
// sched must not know about BGP.
package sched
