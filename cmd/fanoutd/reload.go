package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fanoutd/fanout/config"
)

// reloader applies a re-read configuration file to a running daemon: neighbors added,
// removed or changed according to config.Diff; a neighbor whose effective settings did not
// change keeps its session. It is owned by the goroutine that waits for signals (run's), the
// same one that stops the daemon, so reloads and the stop never overlap.
type reloader struct {
	d    *daemon
	log  *zap.Logger
	path string         // the -f file; empty: the built-in default
	cur  *config.Config // what is running: the last configuration applied

	// Settings from flags that override the file, applied to every reloaded config too so
	// that they do not show up as changes.
	grpcAddress netip.AddrPort   // -api-hosts; invalid: the file's
	level       *zap.AtomicLevel // the process's level; nil: fanout.log-level is not applied
	levelFlag   bool             // -log-level given: it wins over fanout.log-level
}

// load reads the configuration the daemon was started from, with the flag overrides.
func (r *reloader) load() (*config.Config, error) {
	var c *config.Config
	var err error
	if r.path != "" {
		c, err = config.Load(r.path)
	} else {
		c, err = config.LoadDefault()
	}
	if err != nil {
		return nil, err
	}
	if err := unsupported(c); err != nil {
		return nil, err
	}
	if r.grpcAddress.IsValid() {
		c.Fanout.GRPCAddress = r.grpcAddress
	}
	return c, nil
}

// serve waits for signals: SIGHUP reloads and keeps waiting; any other signal (SIGINT,
// SIGTERM) is returned for the caller to stop on. A closed channel is returned as nil.
func (r *reloader) serve(sigs <-chan os.Signal) os.Signal {
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			return sig
		}
		r.reload()
	}
	return nil
}

// reload re-reads the file and applies what changed. A file that does not load or validate,
// or that changes something only a restart applies, changes nothing: the old configuration
// keeps running and the log says why. It returns the error logged, for tests.
func (r *reloader) reload() error {
	src := r.path
	if src == "" {
		src = "(built-in default)"
	}
	log := r.log.With(zap.String("file", src))
	next, err := r.load()
	if err != nil {
		log.Error("reload refused: configuration invalid, the running configuration is kept", zap.Error(err))
		return err
	}
	delta := config.Diff(r.cur, next)
	if delta.Empty() {
		// fanout.instances is not part of the diff: apply it (instances whose settings did
		// not change stay as they are, so "no changes" still holds for everything else).
		if err := r.d.reloadInstances(next); err != nil {
			log.Error("reload: network instances", zap.Error(err))
			return err
		}
		r.cur = next
		log.Info("reload: no changes")
		return nil
	}
	if delta.NeedsRestart() {
		keys := make([]string, len(delta.Restart))
		for i, fc := range delta.Restart {
			keys[i] = fmt.Sprintf("%s: %s -> %s", fc.Key, fc.Old, fc.New)
		}
		err := fmt.Errorf("changes need a restart: %s", strings.Join(keys, "; "))
		log.Error("reload refused: nothing applied, restart fanoutd to apply these changes",
			zap.Strings("restart-keys", keys), zap.String("diff", delta.String()))
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	nb := &delta.Neighbors
	// Neighbors not running as the new file says: true when the old session is still
	// there, false when the neighbor is gone. r.cur records that, so the next reload retries.
	failed := map[netip.Addr]bool{}
	var errs []error
	del := func(a netip.Addr) bool {
		if err := r.d.srv.DeletePeer(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("neighbor %s: delete: %w", a, err))
			log.Error("reload: deleting neighbor", zap.Stringer("peer", a), zap.Error(err))
			return false
		}
		return true
	}
	add := func(a netip.Addr) {
		i := slices.IndexFunc(next.Neighbors, func(n config.Neighbor) bool { return n.Address == a })
		if err := r.d.srv.AddPeer(peerConfig(next, &next.Neighbors[i])); err != nil {
			failed[a] = false
			errs = append(errs, fmt.Errorf("neighbors[%d] (%s): %w", i, a, err))
			log.Error("reload: adding neighbor", zap.Stringer("peer", a), zap.Error(err))
		}
	}
	var removed, changed, added []string
	for _, a := range nb.Removed {
		if del(a) {
			removed = append(removed, a.String())
		} else {
			failed[a] = true
		}
	}
	for _, ch := range nb.Changed {
		if del(ch.Key) {
			add(ch.Key)
			keys := make([]string, len(ch.Fields))
			for i, fc := range ch.Fields {
				keys[i] = fc.Key
			}
			changed = append(changed, ch.Key.String()+" ("+strings.Join(keys, ", ")+")")
		} else {
			failed[ch.Key] = true
		}
	}
	for _, a := range nb.Added {
		add(a)
		added = append(added, a.String())
	}
	if err := syncGroups(r.d.srv, r.cur, next); err != nil { // groups.go
		errs = append(errs, err)
		log.Error("reload: peer groups and dynamic neighbors", zap.Error(err))
	}
	var live []string
	for _, fc := range delta.Live {
		live = append(live, fmt.Sprintf("%s: %s -> %s", fc.Key, fc.Old, fc.New))
		if fc.Key == "fanout.log-level" && r.level != nil && !r.levelFlag {
			lvl := zapcore.InfoLevel
			if next.Fanout.LogLevel != "" {
				if err := lvl.UnmarshalText([]byte(next.Fanout.LogLevel)); err != nil {
					continue // config validated it; keep the current level if not
				}
			}
			r.level.SetLevel(lvl)
		}
	}
	if err := r.d.reloadInstances(next); err != nil {
		errs = append(errs, err)
		log.Error("reload: network instances", zap.Error(err))
	}
	r.cur = keepRunning(r.cur, next, failed)
	fields := []zap.Field{zap.Strings("removed", removed), zap.Strings("changed", changed),
		zap.Strings("added", added), zap.Strings("live", live),
		zap.Int("unchanged", len(next.Neighbors)-len(nb.Added)-len(nb.Changed))}
	if len(errs) > 0 {
		err := fmt.Errorf("reload partly applied: %w", errors.Join(errs...))
		log.Error("reload partly applied", append(fields, zap.Error(err))...)
		return err
	}
	log.Info("reload applied", fields...)
	return nil
}

// keepRunning is next with the neighbors in failed as they were in old (true) or absent
// (false), so that the recorded configuration is what actually runs.
func keepRunning(old, next *config.Config, failed map[netip.Addr]bool) *config.Config {
	if len(failed) == 0 {
		return next
	}
	c := *next
	c.Neighbors = nil
	for _, n := range next.Neighbors {
		keepOld, ok := failed[n.Address]
		if !ok {
			c.Neighbors = append(c.Neighbors, n)
			continue
		}
		if i := slices.IndexFunc(old.Neighbors, func(o config.Neighbor) bool { return o.Address == n.Address }); keepOld && i >= 0 {
			c.Neighbors = append(c.Neighbors, old.Neighbors[i])
		}
	}
	for _, o := range old.Neighbors { // removed, but the delete failed: still running
		if failed[o.Address] && !slices.ContainsFunc(next.Neighbors, func(n config.Neighbor) bool { return n.Address == o.Address }) {
			c.Neighbors = append(c.Neighbors, o)
		}
	}
	return &c
}

// printDiff implements -diff: the changes a reload from the old file to the new one (-f, or
// the built-in default) would make, one per line, without starting anything.
func printDiff(oldPath string, next *config.Config, w io.Writer) int {
	old, err := config.Load(oldPath)
	if err != nil {
		fmt.Fprintf(w, "fanoutd: -diff %s: configuration refused:\n%v\n", oldPath, err)
		return 2
	}
	fmt.Fprint(w, config.Diff(old, next).String())
	return 0
}
