// Package bench holds the route-churn generator and the side-by-side benchmark harness
// that runs the same workloads against fanoutd, BIRD 2, FRR, gobgpd and OpenBGPD.
//
// bench must not be imported by the daemon.
package bench
