// Package netinst runs network instances: the default instance and VRFs. Each instance has
// one actor goroutine, fed by route events, that owns all of that instance's kernel state
// (Linux bridge, routing table and rules via netlink), installs routes, reconciles them
// periodically against the kernel, and reports a status carrying the TargetVersion it has
// acknowledged.
//
// netinst must not be called synchronously from a routing task.
package netinst
