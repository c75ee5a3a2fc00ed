package gen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fanoutd/fanout/proto"
)

// runner is the state of one Plan.Run: the sessions, their tables and the result being
// filled. Owned by the goroutine that called Run; the goroutines it starts (dials,
// senders) are waited for before the step that started them returns.
type runner struct {
	pl       *Plan
	env      Env
	sessions []*Session // by peer index; nil while not connected
	tables   []*Table
	res      *Result
	dropped  []string
	expected Expected // the table every receiver holds, minus a member's own routes
}

// Run executes the plan against the target in env and returns its result. A run that does
// not converge within Params.Timeout has OK false and no time. Run never panics on a
// misbehaving target; it closes every session before it returns.
func (pl *Plan) Run(ctx context.Context, env Env) *Result {
	env.defaults()
	pl.model.Check = env.Check
	res := &Result{Workload: pl.Workload, Role: env.Role.String(), Params: pl.Params, Checked: env.Check.String(),
		Started: env.Now(), Sessions: len(pl.Peers)}
	r := &runner{pl: pl, env: env, sessions: make([]*Session, len(pl.Peers)), tables: make([]*Table, len(pl.Peers)), res: res}
	for i, p := range pl.Peers {
		r.tables[i] = NewTable(p.Receiver, env.Check)
	}
	cpu0 := selfCPU()
	start := time.Now()
	err := pl.run(ctx, r)
	r.closeAll()
	res.WallSeconds = time.Since(start).Seconds()
	res.GenCPUSeconds = selfCPU() - cpu0
	res.Dropped = r.dropped
	for _, sp := range pl.model.Speakers {
		res.Paths += int64(len(sp.RIB))
	}
	if err == nil {
		for _, ph := range res.Phases {
			if ph.Seconds == nil || !ph.Check.OK {
				err = fmt.Errorf("phase %s did not converge", ph.Name)
				break
			}
		}
	}
	if err != nil {
		res.OK, res.Error, res.Seconds = false, err.Error(), nil
		return res
	}
	res.OK = true
	for _, ph := range res.Phases {
		if ph.Name == res.Headline {
			res.Seconds = ph.Seconds
			res.Updates, res.Prefixes = ph.Updates, ph.Prefixes
		}
	}
	return res
}

// selfCPU returns this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// closeAll closes every session, noting the ones the target dropped.
func (r *runner) closeAll() {
	for i, s := range r.sessions {
		if s != nil {
			r.closeSession(i, false)
		}
	}
}

// closeSession closes session i (with a Cease when cease is set), noting whether the target
// had dropped it.
func (r *runner) closeSession(i int, cease bool) {
	s := r.sessions[i]
	if d := s.Dropped(); d != "" {
		r.dropped = append(r.dropped, s.Name()+": "+d)
	}
	s.Close(cease)
	r.sessions[i] = nil
}

// indexes returns the peer indexes that satisfy f.
func (r *runner) indexes(f func(p Peer) bool) []int {
	var out []int
	for i, p := range r.pl.Peers {
		if f(p) {
			out = append(out, i)
		}
	}
	return out
}

func (r *runner) receivers() []int { return r.indexes(func(p Peer) bool { return p.Receiver }) }
func (r *runner) speakers() []int  { return r.indexes(func(p Peer) bool { return p.Speaker }) }

// speakersOnly are the speakers that do not also receive (receivers connect first).
func (r *runner) speakersOnly() []int {
	return r.indexes(func(p Peer) bool { return p.Speaker && !p.Receiver })
}

// connect establishes the sessions of idx, parallel at a time (0: all at once).
func (r *runner) connect(ctx context.Context, idx []int, parallel int) error {
	ctx, cancel := context.WithTimeout(ctx, max(time.Duration(r.pl.Params.Timeout), 30*time.Second))
	defer cancel()
	if parallel <= 0 {
		parallel = len(idx)
	}
	sem := make(chan struct{}, max(parallel, 1))
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		p := r.pl.Peers[i]
		cfg := SessionConfig{Name: p.Name, Local: p.Addr, Remote: r.env.Target, AS: p.AS, PeerAS: r.pl.TargetAS,
			HoldTime: time.Duration(r.pl.Params.HoldTime), IPv6: p.IPv6, Table: r.tables[i], Now: r.env.Now,
			Logger: r.env.Logger}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[k] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			s, err := Dial(ctx, cfg, 200*time.Millisecond)
			if err != nil {
				errs[k] = err
				return
			}
			r.sessions[i] = s
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// expect gives every receiver of idx its expected table as of now.
func (r *runner) expect(idx []int) error {
	e, err := r.pl.model.Expected(netip.Addr{})
	if err != nil {
		return err
	}
	if r.pl.Params.Expect == "wrong" {
		e = corrupt(e)
	}
	r.expected = e
	now := r.env.Now()
	for _, i := range idx {
		var own map[netip.Prefix]*AttrSet
		if p := r.pl.Peers[i]; p.Speaker {
			own = r.pl.model.Speakers[p.Index].RIB
		}
		r.tables[i].Expect(e, own, now)
	}
	return nil
}

// corrupt returns a copy of e with one fingerprint changed and one extra prefix: an
// expectation no correct target can meet, so a run proves its check can fail.
func corrupt(e Expected) Expected {
	out := make(Expected, len(e)+1)
	changed := false
	for p, fp := range e {
		if !changed {
			fp += "x"
			changed = true
		}
		out[p] = fp
	}
	out[netip.MustParsePrefix("192.0.2.0/24")] = "nothing sends this"
	return out
}

// sender is a function a phase runs in its own goroutine to send routes.
type sender func(ctx context.Context) error

// phase times one step: it starts the senders at t0 and waits until every receiver of idx
// holds its expected table and keeps holding it for Params.Settle, or until Params.Timeout,
// or until nothing has changed for a while after the senders finished.
func (r *runner) phase(ctx context.Context, name string, idx []int, t0 time.Time, sent int, senders ...sender) Phase {
	ph := Phase{Name: name, Sent: sent}
	before := make([]TableStats, len(idx))
	for k, i := range idx {
		before[k] = r.tables[i].Stats()
	}
	pctx, cancel := context.WithTimeout(ctx, time.Duration(r.pl.Params.Timeout))
	defer cancel()
	var wg sync.WaitGroup
	sendErrs := make([]error, len(senders))
	sendDone := make(chan struct{})
	for k, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sendErrs[k] = s(pctx)
		}()
	}
	go func() {
		wg.Wait()
		close(sendDone)
	}()
	quiet := max(10*time.Second, 10*time.Duration(r.pl.Params.Settle))
	if q := time.Duration(r.pl.Params.Timeout) / 4; q < quiet {
		quiet = max(q, time.Second)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	var failure string
	converged := false
	for !converged && failure == "" {
		select {
		case <-pctx.Done():
			failure = fmt.Sprintf("not converged after %v", time.Duration(r.pl.Params.Timeout))
			r.res.TimedOut = ctx.Err() == nil // the phase's bound, not the caller's
			continue
		case <-tick.C:
		}
		sendersDone := isDone(sendDone)
		all, held, want, lastChange := true, 0, 0, t0
		for _, i := range idx {
			st := r.tables[i].Stats()
			all = all && st.Equal
			held += st.Matched
			want += st.Expected
			if st.LastChange.After(lastChange) {
				lastChange = st.LastChange
			}
		}
		if time.Since(lastProgress) >= time.Second && r.env.Progress != nil {
			lastProgress = time.Now()
			fmt.Fprintf(r.env.Progress, "%s %s: %.1fs, %d/%d expected routes held on %d receivers, %d sessions dropped\n",
				r.env.Label, name, r.env.Now().Sub(t0).Seconds(), held, want, len(idx), r.downCount(idx))
		}
		if sendersDone {
			if err := errors.Join(sendErrs...); err != nil {
				failure = "sending: " + err.Error()
				continue
			}
		}
		if all && sendersDone {
			time.Sleep(time.Duration(r.pl.Params.Settle))
			converged = true
			for _, i := range idx {
				converged = converged && r.tables[i].Stats().Equal
			}
			continue
		}
		if sendersDone && r.env.Now().Sub(lastChange) > quiet {
			failure = fmt.Sprintf("receivers stalled: no change for %v", quiet)
		}
	}
	cancel()
	<-sendDone
	var worst time.Duration
	for k, i := range idx {
		st := r.tables[i].Stats()
		rs := ReceiverStats{Name: r.pl.Peers[i].Name, Updates: st.Updates - before[k].Updates,
			Announced: st.Announced - before[k].Announced, Withdrawn: st.Withdrawn - before[k].Withdrawn, Held: st.Held}
		if st.Equal {
			d := max(st.EqualAt.Sub(t0), 0)
			worst = max(worst, d)
			rs.Seconds = seconds(d)
		}
		if st.EndOfRIB.After(t0) {
			rs.EndOfRIB = seconds(st.EndOfRIB.Sub(t0))
		}
		ph.Updates += rs.Updates
		ph.Prefixes += rs.Announced + rs.Withdrawn
		if len(ph.Receivers) < 20 {
			ph.Receivers = append(ph.Receivers, rs)
		}
		if !st.Equal && ph.Check.Expected == 0 {
			ph.Check = r.tables[i].Diff(5)
			ph.Check.Examples = append([]string{"receiver " + r.pl.Peers[i].Name}, ph.Check.Examples...)
		}
	}
	if converged {
		ph.Seconds = seconds(worst)
		ph.Check = CheckResult{OK: true, Expected: r.tables[idx[0]].Stats().Expected, Held: r.tables[idx[0]].Stats().Held}
	} else {
		ph.Check.OK = false
		r.env.Logger.Warn("phase failed", zap.String("phase", name), zap.String("why", failure))
		ph.Check.Examples = append([]string{failure}, ph.Check.Examples...)
	}
	r.res.Phases = append(r.res.Phases, ph)
	return ph
}

// err says why the phase failed ("converge: not converged after 20s"), or nil when it
// converged.
func (ph Phase) err() error {
	if ph.Seconds != nil {
		return nil
	}
	why := "did not converge"
	if len(ph.Check.Examples) > 0 {
		why = ph.Check.Examples[0]
	}
	if c := ph.Check; c.Expected > 0 {
		why += fmt.Sprintf(" (first failing receiver: %d of %d expected routes missing, %d wrong, %d extra)",
			c.Missing, c.Expected, c.Wrong, c.Extra)
	}
	return fmt.Errorf("%s: %s", ph.Name, why)
}

// downCount counts the sessions of idx the target has dropped (as their tables saw it).
func (r *runner) downCount(idx []int) int {
	n := 0
	for _, i := range idx {
		if r.tables[i].Stats().SessionDown != "" {
			n++
		}
	}
	return n
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

// sendBuffer returns a sender that sends buf (whole messages) on session i: at full speed
// in chunks when rate is 0, otherwise paced at rate prefixes per second. onSend, when set,
// is called with each message's span and the time it was queued.
func (r *runner) sendBuffer(i int, buf []byte, rate float64, onSend func(sp msgSpan, at time.Time)) (sender, error) {
	s := r.sessions[i]
	if s == nil {
		return nil, fmt.Errorf("%s is not connected", r.pl.Peers[i].Name)
	}
	if rate <= 0 && onSend == nil {
		spans, err := splitMessages(buf, s.Options(), false)
		if err != nil {
			return nil, err
		}
		parts := chunks(spans, buf, 64<<10)
		return func(ctx context.Context) error {
			for _, c := range parts {
				if err := s.Send(ctx, c); err != nil {
					return err
				}
			}
			return nil
		}, nil
	}
	spans, err := splitMessages(buf, s.Options(), onSend != nil)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		start := time.Now()
		sent := 0
		for _, sp := range spans {
			if rate > 0 {
				due := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
				if wait := time.Until(due); wait > time.Millisecond {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			if err := s.Send(ctx, buf[sp.off:sp.end]); err != nil {
				return err
			}
			if onSend != nil {
				onSend(sp, r.env.Now())
			}
			sent += sp.count
		}
		return nil
	}, nil
}

// sendSplit sends b, whole messages, on s in pieces of at most about size bytes cut at
// message boundaries, so no single write waits on the target for long.
func sendSplit(ctx context.Context, s *Session, b []byte, size int) error {
	for len(b) > 0 {
		n := 0
		for n < len(b) && n < size {
			if len(b)-n < proto.HeaderLen {
				return fmt.Errorf("sendSplit: %d trailing bytes", len(b)-n)
			}
			l := int(binary.BigEndian.Uint16(b[n+16:]))
			if l < proto.HeaderLen {
				return fmt.Errorf("sendSplit: message length %d", l)
			}
			n += l
		}
		if err := s.Send(ctx, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
