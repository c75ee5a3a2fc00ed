// Package bench holds the route-churn generator and the side-by-side benchmark harness
// that runs the same workloads against fanoutd, BIRD 2, FRR, gobgpd and OpenBGPD.
//
//	gen      the generator: sessions, workloads, expected tables, results
//	targets  starting each daemon with an equivalent config; its CPU and peak RSS
//	harness  runs workloads on targets, repeats, medians and spread, markdown tables
//	gobench  reads `go test -bench` output; medians as markdown
//	charts   one PNG per workload of the harness's numbers
//	suite    make bench: the default sizes, the micro-benchmarks, BENCHMARKS.md's generated
//	         section between its markers (cmd/fanout-bench suite and publish)
//	mrtdata  reads the MRT samples in ../shared/data/mrt for tests and benchmarks
//
// bench must not be imported by the daemon.
package bench
