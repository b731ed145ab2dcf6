package consistency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
	"github.com/zonecache/zonecache/internal/backoff"
	"github.com/zonecache/zonecache/replication"
)

// WriterSpec is what a writer subprocess is told, as one JSON argument:
// where it lives, the fleet (a static topology, or seeds to discover and
// follow it) and the workload.
type WriterSpec struct {
	Zone     string
	Topology replication.Topology
	Seeds    []string
	Policy   replication.WritePolicy
	Workload WorkloadConfig
	// SpoolDir is the client's RepairSpoolDir: a writer started on the
	// directory of one that died takes over its repairs.
	SpoolDir string
}

// RunWriterProcess is the writer subprocess: it writes spec's workload
// until ctx ends, printing every event to out as a LineRecorder does, the
// repairs its client took over from the spool when it started, and the
// client's pending repairs every 100 ms.
func RunWriterProcess(ctx context.Context, spec WriterSpec, out io.Writer) error {
	reg := prometheus.NewRegistry()
	rec := NewLineRecorder(out)
	cfg := client.Config{Zone: spec.Zone, Topology: spec.Topology, WritePolicy: spec.Policy, RepairSpoolDir: spec.SpoolDir,
		Registerer: reg, Hooks: client.Hooks{OnAttempt: InflightHook(rec, nil)}}
	if len(spec.Seeds) > 0 {
		top, err := discovery.Fetch(ctx, discovery.Config{Seeds: spec.Seeds})
		if err != nil {
			return err
		}
		cfg.Topology = top
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	if len(spec.Seeds) > 0 {
		go func() {
			_ = discovery.Watch(ctx, discovery.Config{Seeds: spec.Seeds, Wait: 5 * time.Second}, cfg.Topology, c.SetTopology)
		}()
	}
	rec.Replayed(replayedRepairs(reg))
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				close(stop)
				return
			case <-t.C:
				rec.Pending(c.PendingRepairs())
			}
		}
	}()
	RunWriters(c, spec.Workload, rec, stop, nil)
	// Close runs what repairs it can; the last P line is what it left.
	err = c.Close()
	rec.Pending(c.PendingRepairs())
	return err
}

// replayedRepairs reads zonecache_client_repair_spool_replayed_total from
// reg (-1 if it cannot).
func replayedRepairs(reg *prometheus.Registry) int {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == "zonecache_client_repair_spool_replayed_total" && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return -1
}

// writerProc is a running writer subprocess whose lines feed the history.
type writerProc struct {
	cmd   *exec.Cmd
	lines sync.WaitGroup
	last  atomic.Int64 // pending repairs last reported
	// replayed is the repairs its client took over from the spool; started
	// closes when it has said so (its client is up).
	replayed atomic.Int64
	started  chan struct{}
	once     sync.Once
	waitErr  error
	lineErr  error
	nLines   int
}

// startWriterProc starts a writer process on the run's repair spool,
// writing each key's versions above versions (nil: from 1), and returns
// once its client is up; who names it in the history.
func startWriterProc(ctx context.Context, r *run, versions map[string]uint64, who string) (*writerProc, error) {
	if len(r.cfg.WriterCommand) == 0 {
		return nil, errors.New("consistency: the writer-exit fault needs RunConfig.WriterCommand")
	}
	spec := WriterSpec{Zone: Zones[0], Policy: r.cfg.Policy, Workload: r.cfg.Workload, SpoolDir: r.spoolDir}
	spec.Workload.Versions = versions
	if r.env.follow {
		spec.Seeds = r.env.seeds(Zones[0])
	} else {
		spec.Topology = r.env.fleet.Topology()
	}
	arg, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	argv := append(append([]string{}, r.cfg.WriterCommand...), string(arg))
	p := &writerProc{cmd: exec.Command(argv[0], argv[1:]...), started: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = r.cfg.NodeLog
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the writer process: %w", err)
	}
	p.lines.Add(1)
	go func() {
		defer p.lines.Done()
		var once sync.Once
		p.nLines, p.lineErr = ReadLines(stdout, r.h, who, Counters{
			Pending:  func(n int) { p.last.Store(int64(n)) },
			Replayed: func(n int) { p.replayed.Store(int64(n)); once.Do(func() { close(p.started) }) },
		})
	}()
	select {
	case <-p.started:
		return p, nil
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	p.kill()
	return nil, fmt.Errorf("the writer process did not start its client in 15 s (%v): %w", p.exitState(), ErrFaultNotInjected)
}

// waitWriting waits until the writer process has issued a write.
func waitWriting(ctx context.Context, r *run, p *writerProc) error {
	deadline := time.Now().Add(15 * time.Second)
	for len(r.h.Keys()) == 0 {
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("the writer process wrote nothing in 15 s (%v): %w", p.exitState(), ErrFaultNotInjected)
		}
		if err := backoff.Sleep(ctx, 20*time.Millisecond); err != nil {
			p.kill()
			return err
		}
	}
	return nil
}

func (p *writerProc) pid() int     { return p.cmd.Process.Pid }
func (p *writerProc) pending() int { return int(p.last.Load()) }

// kill sends SIGKILL and waits for the process and the last of its lines.
func (p *writerProc) kill() { p.signal(syscall.SIGKILL, 0) }

// stop ends the process as a service manager does: SIGTERM (its client's
// Close runs what repairs it can), SIGKILL if it has not exited within
// grace. It waits for the process and the last of its lines.
func (p *writerProc) stop(grace time.Duration) { p.signal(syscall.SIGTERM, grace) }

func (p *writerProc) signal(sig syscall.Signal, grace time.Duration) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(sig)
		if grace > 0 {
			t := time.AfterFunc(grace, func() { _ = p.cmd.Process.Signal(syscall.SIGKILL) })
			defer t.Stop()
		}
		p.lines.Wait()
		p.waitErr = p.cmd.Wait()
	})
}

// exitState describes how the process ended.
func (p *writerProc) exitState() string {
	if p.cmd.ProcessState == nil {
		return "still running"
	}
	return p.cmd.ProcessState.String()
}
