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

	"github.com/zonecache/zonecache/client"
	"github.com/zonecache/zonecache/discovery"
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
}

// RunWriterProcess is the writer subprocess: it writes spec's workload
// until ctx ends, printing every event to out as a LineRecorder does and
// the client's pending repairs every 100 ms.
func RunWriterProcess(ctx context.Context, spec WriterSpec, out io.Writer) error {
	cfg := client.Config{Zone: spec.Zone, Topology: spec.Topology, WritePolicy: spec.Policy,
		Hooks: client.Hooks{OnAttempt: InflightHook(nil)}}
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
	defer c.Close()
	if len(spec.Seeds) > 0 {
		go func() {
			_ = discovery.Watch(ctx, discovery.Config{Seeds: spec.Seeds, Wait: 5 * time.Second}, cfg.Topology, c.SetTopology)
		}()
	}
	rec := NewLineRecorder(out)
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
	return nil
}

// writerProc is a running writer subprocess whose lines feed the history.
type writerProc struct {
	cmd     *exec.Cmd
	lines   sync.WaitGroup
	last    atomic.Int64 // pending repairs last reported
	once    sync.Once
	waitErr error
	lineErr error
	nLines  int
}

func startWriterProc(ctx context.Context, r *run) (*writerProc, error) {
	if len(r.cfg.WriterCommand) == 0 {
		return nil, errors.New("consistency: the writer-exit fault needs RunConfig.WriterCommand")
	}
	spec := WriterSpec{Zone: Zones[0], Policy: r.cfg.Policy, Workload: r.cfg.Workload}
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
	p := &writerProc{cmd: exec.Command(argv[0], argv[1:]...)}
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
		p.nLines, p.lineErr = ReadLines(stdout, r.h, "writer process", func(n int) { p.last.Store(int64(n)) })
	}()
	r.evidence("writer process started (pid %d): %s consistency-writer", p.cmd.Process.Pid, argv[0])
	// It must be writing before the warm-up counts.
	deadline := time.Now().Add(15 * time.Second)
	for len(r.h.Keys()) == 0 {
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("the writer process wrote nothing in 15 s (%v): %w", p.exitState(), ErrFaultNotInjected)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			p.kill()
			return nil, err
		}
	}
	return p, nil
}

func (p *writerProc) pid() int     { return p.cmd.Process.Pid }
func (p *writerProc) pending() int { return int(p.last.Load()) }

// kill sends SIGKILL and waits for the process and the last of its lines.
func (p *writerProc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
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
