// Package sched is the task scheduler: a fixed pool of workers running tasks of registered
// kinds and instances under exclusion policies declared once, in policy.go, instead of
// mutexes scattered through routing state. It owns priorities, cooperative re-running,
// coalescing of repeated wakes, per-kind statistics, and the concurrency checker that makes a
// call from the wrong task panic in tests.
//
// A Scheduler (New, Close) runs work given as a reusable Task handle (NewTask, Wake) or as a
// one-shot Run. A task's function gets the worker's *Ctx and returns Done or Again. Code that
// relies on a policy states it with Check, CheckInstance or CheckExcludes; checking is on in
// test binaries, under the schedcheck build tag, or by WithChecking, and costs one branch
// when off.
//
// sched must not know about BGP; the program's kinds are names in one table.
package sched
