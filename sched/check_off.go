//go:build !schedcheck

package sched

// forceCheck: without the schedcheck build tag, checking follows WithChecking and the
// test-binary default.
const forceCheck = false
