package netinst

import "time"

// Status is what an actor last published about its instance.
type Status struct {
	Name string `json:"name"`
	// TargetVersion is the config version the actor has acknowledged (applied).
	TargetVersion uint64 `json:"target_version"`
	// Sent is the config version the manager last sent; Pending is Sent > TargetVersion.
	Sent    uint64 `json:"sent"`
	Pending bool   `json:"pending"`
	// Activated: the set-up (bridge, ports, rules) is in place and routes may be installed.
	Activated bool `json:"activated"`
	// Error is why the instance is not activated; LastError the last route error.
	Error     string `json:"error,omitempty"`
	LastError string `json:"last_error,omitempty"`

	RoutesDesired   int `json:"routes_desired"`
	RoutesInstalled int `json:"routes_installed"`

	LastReconcile         time.Time     `json:"last_reconcile"`
	LastReconcileDuration time.Duration `json:"last_reconcile_duration_ns"`
	LastReconcileResult   string        `json:"last_reconcile_result,omitempty"`

	Reinstalls          uint64 `json:"reinstalls"`
	InstallFailures     uint64 `json:"install_failures"`
	StraysRemoved       uint64 `json:"strays_removed"`
	DumpFailures        uint64 `json:"dump_failures"`
	UnreachableNextHops uint64 `json:"unreachable_next_hops"`
	// NextHopsDown is how many next hops the instance has reported unreachable to the RIB
	// and not yet reachable again.
	NextHopsDown int `json:"next_hops_down"`

	// EventLoopLag is how long the oldest event of the last batch waited in the inbox.
	EventLoopLag time.Duration `json:"event_loop_lag_ns"`
	// InboxDepth is the number of route events waiting (read when the status is asked for).
	InboxDepth int `json:"inbox_depth"`
}
