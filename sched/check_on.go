//go:build schedcheck

package sched

// forceCheck: built with -tags schedcheck, the concurrency checker is always on.
const forceCheck = true
