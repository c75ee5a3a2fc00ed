package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Target is one BGP implementation: it knows how to configure and launch its daemon for a Spec.
// The implementations are GoBGPD, BIRD, FRR, OpenBGPD and Fanoutd.
type Target interface {
	// Name is a short, stable name for reports and directory names ("bird", "frr", ...).
	Name() string
	// Version reports the installed daemon's version.
	Version(ctx context.Context) (string, error)
	// Prepare writes the daemon's configuration for spec into dir (an empty directory the
	// caller owns) and returns how to run it in the foreground.
	Prepare(spec Spec, dir string) (Launch, error)
}

// Launch is how to run a prepared daemon.
type Launch struct {
	// Path and Args are the command; Args excludes the program name.
	Path string
	Args []string
	// ConfigPath is the main configuration file Prepare wrote.
	ConfigPath string
	// Control is the daemon's control endpoint: a unix socket path, or host:port for gobgpd's
	// and fanoutd's gRPC API.
	Control string
	// Ready, when set, returns nil once the daemon's control endpoint answers; Start polls it
	// after the BGP port is listening.
	Ready func(ctx context.Context) error
	// Cleanup, when set, removes what the daemon left outside its directory; Stop calls it with
	// the daemon's pid after the process has exited.
	Cleanup func(pid int)
}

// Options tune Start. The zero value is usable.
type Options struct {
	// Dir is the parent of the per-run temporary directory; empty means os.TempDir().
	Dir string
	// ReadyTimeout bounds the wait for the daemon to listen; 0 means 10 s.
	ReadyTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM before SIGKILL; 0 means 5 s.
	StopTimeout time.Duration
	// SampleInterval is how often the process tree is sampled; 0 means 100 ms.
	SampleInterval time.Duration
	// KeepDir keeps the run directory (config and log) after Stop.
	KeepDir bool
}

func (o Options) withDefaults() Options {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 5 * time.Second
	}
	if o.SampleInterval == 0 {
		o.SampleInterval = 100 * time.Millisecond
	}
	return o
}

// Usage is the resource use of a daemon's process tree.
type Usage struct {
	// CPUSeconds is user plus system CPU time of the daemon and every process it forked.
	CPUSeconds float64
	// PeakRSSBytes is the largest sum, over one sample, of the peak resident set sizes
	// (VmHWM) of the processes in the tree. Pages shared between forked processes are counted
	// once per process, as ps and top do.
	PeakRSSBytes int64
}

// procRoot is where the proc file system is mounted.
const procRoot = "/proc"

// logTailLines is how many log lines errors quote.
const logTailLines = 40

// Process is a running daemon started by Start. It is owned by one goroutine, the caller's,
// which may call its methods also after Stop. Inside, one goroutine waits for the daemon and
// another samples its process tree into a treeStats; Stop ends and waits for both.
type Process struct {
	target  Target
	spec    Spec
	launch  Launch
	dir     string
	logPath string
	cmd     *exec.Cmd
	opts    Options
	stats   *treeStats // shared with the sampler goroutine

	exited   chan struct{} // closed when cmd.Wait has returned
	waitErr  error         // cmd.Wait's result; read after exited is closed
	stopSamp chan struct{} // closed by Stop to end the sampler
	wg       sync.WaitGroup

	stopped bool
	killed  bool
	keep    bool
	usage   Usage
}

// treeStats accumulates samples of one process tree; the sampler goroutine writes it and the
// Process's owner reads it.
type treeStats struct {
	root int // the tree's root pid; immutable

	mu       sync.Mutex // guards the fields below
	maxTicks uint64
	maxHWM   int64
	seen     map[procKey]bool // every live process of the tree ever sampled
}

// sample takes one look at the tree and folds it into the maxima.
func (ts *treeStats) sample() {
	s, err := sampleTree(procRoot, ts.root)
	if err != nil {
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.maxTicks = max(ts.maxTicks, s.cpuTicks)
	ts.maxHWM = max(ts.maxHWM, s.hwmBytes)
	for _, st := range s.procs {
		if st.state != 'Z' {
			ts.seen[st.key] = true
		}
	}
}

// maxima returns the largest CPU tick count and VmHWM sum sampled.
func (ts *treeStats) maxima() (uint64, int64) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.maxTicks, ts.maxHWM
}

// alive samples the tree and returns the processes ever seen in it that are still running.
func (ts *treeStats) alive() []procKey {
	ts.sample()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var left []procKey
	for k := range ts.seen {
		if alive(procRoot, k) {
			left = append(left, k)
		}
	}
	return left
}

// Start prepares t for spec in a new directory under opts.Dir, starts the daemon with its
// stdout and stderr going to a log file there, and waits until it listens on
// spec.ListenAddr:spec.Port and, where the target has one, its control endpoint answers. On
// failure the daemon is stopped, the directory is kept, and the error quotes the log's tail.
func Start(ctx context.Context, t Target, spec Spec, opts Options) (*Process, error) {
	opts = opts.withDefaults()
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("start %s: %w", t.Name(), err)
	}
	dir, err := os.MkdirTemp(opts.Dir, "fanout-target-"+t.Name()+"-")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", t.Name(), err)
	}
	launch, err := t.Prepare(spec, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: prepare: %w", t.Name(), err)
	}
	logPath := filepath.Join(dir, "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", t.Name(), err)
	}
	cmd := exec.Command(launch.Path, launch.Args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group, so signals from a terminal do not reach it and Stop can find
	// children it orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(logFile, "# %s %q\n", launch.Path, launch.Args)
	err = cmd.Start()
	logFile.Close() // the child holds its own descriptors
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", t.Name(), err)
	}
	p := &Process{
		target: t, spec: spec, launch: launch, dir: dir, logPath: logPath, cmd: cmd, opts: opts,
		stats:  &treeStats{root: cmd.Process.Pid, seen: make(map[procKey]bool)},
		exited: make(chan struct{}), stopSamp: make(chan struct{}),
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	go func() {
		defer p.wg.Done()
		p.sampleLoop()
	}()
	if err := p.waitReady(ctx); err != nil {
		p.Keep()
		p.Stop(context.Background())
		return nil, fmt.Errorf("start %s: %w\n--- %s (last %d lines) ---\n%s", t.Name(), err, logPath, logTailLines, p.LogTail(logTailLines))
	}
	return p, nil
}

// waitReady polls until the daemon listens and its control endpoint answers, the process
// exits, or the ready timeout or ctx ends.
func (p *Process) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	listened := false
	var lastErr error
	for {
		if !listened {
			ok, err := listening(procRoot, p.spec.ListenAddr, p.spec.Port)
			if err != nil {
				return err
			}
			listened = ok
			lastErr = fmt.Errorf("not listening on %v port %d", p.spec.ListenAddr, p.spec.Port)
		}
		if listened {
			if p.launch.Ready == nil {
				return nil
			}
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			lastErr = p.launch.Ready(rctx)
			rcancel()
			if lastErr == nil {
				return nil
			}
			lastErr = fmt.Errorf("control %s: %w", p.launch.Control, lastErr)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("daemon exited before it was ready: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", p.opts.ReadyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

// sampleLoop samples the process tree until Stop.
func (p *Process) sampleLoop() {
	tick := time.NewTicker(p.opts.SampleInterval)
	defer tick.Stop()
	for {
		p.stats.sample()
		select {
		case <-p.stopSamp:
			return
		case <-tick.C:
		}
	}
}

// Pid is the daemon's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Dir is the run directory holding the configuration and the log.
func (p *Process) Dir() string { return p.dir }

// LogPath is the file the daemon's stdout and stderr go to.
func (p *Process) LogPath() string { return p.logPath }

// ConfigPath is the daemon's main configuration file.
func (p *Process) ConfigPath() string { return p.launch.ConfigPath }

// Control is the daemon's control endpoint (see Launch.Control).
func (p *Process) Control() string { return p.launch.Control }

// Target is the implementation this process runs.
func (p *Process) Target() Target { return p.target }

// Spec is the spec the process was started with.
func (p *Process) Spec() Spec { return p.spec }

// Keep asks Stop to leave the run directory in place, e.g. because a test failed.
func (p *Process) Keep() { p.keep = true }

// Killed reports whether Stop had to SIGKILL the daemon because it did not exit in time after
// SIGTERM.
func (p *Process) Killed() bool { return p.killed }

// Exited is closed when the daemon process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Usage reports the resource use seen so far; after Stop, the final figures.
func (p *Process) Usage() Usage {
	if p.stopped {
		return p.usage
	}
	ticks, hwm := p.stats.maxima()
	return Usage{CPUSeconds: float64(ticks) / clockTicks, PeakRSSBytes: hwm}
}

// LogTail returns the last n lines of the daemon's log, or a note saying why it cannot.
func (p *Process) LogTail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(log unavailable: %v)", err)
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		f.Seek(fi.Size()-maxTail, io.SeekStart)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(log unreadable: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// ErrTreeSurvived is returned by Stop when a process of the daemon's tree could not be killed.
var ErrTreeSurvived = errors.New("process tree survived SIGKILL")

// Stop ends the daemon: SIGTERM, up to Options.StopTimeout (or ctx) for it to exit, then
// SIGKILL to it and to every process of its tree still alive (Killed reports whether that was
// needed); it reaps the process, waits up to 2 s more for the tree to be gone, runs the
// target's cleanup and removes the run directory unless Keep was called, Options.KeepDir is
// set or Stop failed. It returns the final Usage: the maxima of the samples, the CPU time
// raised to the root's own rusage (its time and its reaped children's, to the microsecond). Calling Stop
// again returns the same Usage.
func (p *Process) Stop(ctx context.Context) (Usage, error) {
	if p.stopped {
		return p.usage, nil
	}
	p.stats.sample() // the last values of a live tree
	var errs []error
	select {
	case <-p.exited:
	default:
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("SIGTERM: %w", err))
		}
		tctx, cancel := context.WithTimeout(ctx, p.opts.StopTimeout)
		select {
		case <-p.exited:
		case <-tctx.Done():
			p.killed = true
		}
		cancel()
	}
	// Whatever is left of the tree (orphans in the group, a root that ignored SIGTERM) dies.
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := p.stats.alive()
		if len(left) == 0 && isClosed(p.exited) {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("%w: %v", ErrTreeSurvived, left))
			break
		}
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		for _, k := range left {
			syscall.Kill(k.pid, syscall.SIGKILL)
		}
		select {
		case <-p.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
	close(p.stopSamp)
	p.wg.Wait()

	ticks, hwm := p.stats.maxima()
	cpu := float64(ticks) / clockTicks
	if ps := p.cmd.ProcessState; ps != nil {
		// The root's own time and that of every child it reaped, to the microsecond (the
		// samples count whole ticks).
		cpu = max(cpu, (ps.UserTime() + ps.SystemTime()).Seconds())
		// The rusage's Maxrss is not used: Go starts the daemon with vfork, and Linux carries
		// the parent's resident set (this harness's, hundreds of MiB with a big plan) into
		// the child's maxrss at exec, so it would report the harness, not the daemon.
		// The sampled VmHWM belongs to the daemon's own address spaces.
	}
	if p.launch.Cleanup != nil {
		p.launch.Cleanup(p.cmd.Process.Pid)
	}
	u := Usage{CPUSeconds: cpu, PeakRSSBytes: hwm}
	err := errors.Join(errs...)

	p.stopped, p.usage = true, u
	if !(p.keep || p.opts.KeepDir || err != nil) {
		if rerr := os.RemoveAll(p.dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", p.dir, rerr))
		}
	}
	if err != nil {
		return u, fmt.Errorf("stop %s (pid %d): %w", p.target.Name(), p.cmd.Process.Pid, err)
	}
	return u, nil
}

// Alive samples the daemon's process tree and returns the pids of every process of it seen so
// far that is still running. After a successful Stop it is empty.
func (p *Process) Alive() []int {
	var pids []int
	for _, k := range p.stats.alive() {
		pids = append(pids, k.pid)
	}
	return pids
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
