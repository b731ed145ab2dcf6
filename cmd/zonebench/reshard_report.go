package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zonecache/zonecache/internal/bench"
	"github.com/zonecache/zonecache/internal/consistency"
)

// The reshard scenario's targets, from the issue: relative to the seconds
// before the reshard.
const (
	reshardMinHitShare = 0.99 // local-zone hit ratio, of its value before
	reshardMaxP99Ratio = 1.2  // online p99, of its value before
)

// reshardSecond is one second of the run as the reshard scenario reports
// it. Zone a is the client's zone: a read it does not answer is a miss
// there (a cold key) or a node error (a timeout, an open breaker), after
// which the read falls back to another zone.
type reshardSecond struct {
	t                time.Duration
	localHit         float64 // zone a's hits / its reads (hits, misses, node errors)
	reads            uint64
	misses, nodeErrs uint64 // zone a's
	errors, stale    int    // caller errors (the demo's and the checker's), stale reads
	p99              time.Duration
	beforeTheReshard bool
	duringTheReshard bool // from its beginning to the end of the last step (to the run's end if it did not end)
	afterTheReshard  bool // began a second after its last step ended
}

// reshardFigures are the scenario's figures against its targets.
type reshardFigures struct {
	seconds       []reshardSecond
	beforeHit     float64
	beforeP99     time.Duration // the worst second of as many before as the reshard has (see fairBefore)
	beforeSeconds int           // how many seconds before beforeP99 is the worst of
	beforeMeanP99 time.Duration // the mean p99 of every second before, for scale
	minHit        float64
	minHitAt      time.Duration
	maxP99        time.Duration
	maxP99At      time.Duration
	afterMaxP99   time.Duration // the steady seconds after the last step
	// windowP99 and beforeWindowP99 are the p99 of every call of the
	// reshard's whole seconds and of as many seconds just before it (the
	// first second of the run left out); windowCalls, beforeWindowCalls
	// and windowSecs what they count.
	windowP99, beforeWindowP99     time.Duration
	windowCalls, beforeWindowCalls uint64
	windowSecs, beforeWindowSecs   int
	errors, stale                  int
	afterFailedWrite               int // stale reads from a node a newer write to had failed
	checkerReads, acked            int
}

// reportReshard prints the reshard scenario's copies, its per-second
// series, where the time went and its figures against the targets, each
// PASS or FAIL.
func (d *demo) reportReshard(res *bench.Result) {
	r := d.shape
	if r == nil {
		return
	}
	r.steps.addTo(res)
	check := r.checker.finish()
	w := d.stdout
	r.mu.Lock()
	writeReshardCopies(w, r.copies, r.copyRate)
	if r.held != "" {
		fmt.Fprintf(w, "after the growth's cutover: %s\n", r.held)
	}
	done, ended := r.doneSteps, r.ended
	r.mu.Unlock()
	fig := reshardFiguresOf(res, check, r.baseline, ended)
	fig.windowP99s(r.trace.p99Between, r.baseline, ended)
	writeReshardSeconds(w, res, fig)
	d.trace.write(w)
	fmt.Fprintf(w, "\nconsistency checker: %d reads, %d acknowledged writes, %d stale, %d caller errors (%d reads within a write's in-flight window, allowed)\n",
		check.Reads, check.Acked, check.Stale, check.Errors, check.InFlight)
	for _, s := range check.StaleSamples {
		fmt.Fprintf(w, "  stale: %s\n", s)
	}
	for _, s := range check.ErrorSamples {
		fmt.Fprintf(w, "  error: %s\n", s)
	}
	writeCPUByWindow(w, fig, r.trace.cpuOf)
	writeReshardTargets(w, fig, done, len(reshardSteps()), r.trace.others())
	if r.control != "" {
		fmt.Fprintf(w, "this was a control run (--control %s): nothing was resharded, so its figures measure the machine, not a reshard\n", r.control)
	}
}

// writeCPUByWindow prints the mean CPU per second before, during and
// after the reshard, by whom: zonebench (workload, checker, copier), the
// fleet's first six nodes, the nodes the steps started (a-3, zone d) and
// the rest of the machine; and zonebench's own stalls: its GC's CPU, its
// longest GC pause, its live heap and goroutines at the window's end. Both CPUs are
// shared, so what the reshard's processes take, the client's workers
// wait for.
func writeCPUByWindow(w io.Writer, fig reshardFigures, cpuOf func(int) (secondCPU, bool)) {
	var sum [3]secondCPU
	var n [3]int
	var pause [3]time.Duration
	var heap [3]float64
	var goroutines [3]uint64
	for i, s := range fig.seconds {
		win := windowOf(i, s)
		c, ok := cpuOf(i)
		if win < 0 || !ok {
			continue
		}
		sum[win].zonebench += c.zonebench
		sum[win].nodes += c.nodes
		sum[win].added += c.added
		sum[win].other += c.other
		sum[win].rt.gcCPU += c.rt.gcCPU
		pause[win] = max(pause[win], c.rt.maxPause)
		heap[win], goroutines[win] = c.rt.heapLiveMB, c.rt.goroutines
		n[win]++
	}
	fmt.Fprintf(w, "\nCPU ms per second, mean (2 CPUs = 2000 ms), by whom: zonebench, the six nodes, the nodes the steps started,\n"+
		"the rest of the machine; zonebench's GC (CPU ms per second, longest pause, live heap at the end) and goroutines at the end:\n")
	for win, name := range []string{"before", "during", "after"} {
		if n[win] == 0 {
			continue
		}
		k := time.Duration(n[win])
		fmt.Fprintf(w, "  %-7s %2d s: zonebench %4d  six nodes %4d  started nodes %4d  rest %4d;  GC %3d  pause %v  heap %.0f MB  goroutines %d\n", name, n[win],
			(sum[win].zonebench / k).Milliseconds(), (sum[win].nodes / k).Milliseconds(), (sum[win].added / k).Milliseconds(),
			(sum[win].other / k).Milliseconds(), (sum[win].rt.gcCPU / k).Milliseconds(), pause[win].Round(10*time.Microsecond), heap[win], goroutines[win])
	}
}

// windowOf is second i's window: 0 before the reshard (the first second
// left out), 1 during, 2 after, -1 none.
func windowOf(i int, s reshardSecond) int {
	switch {
	case s.beforeTheReshard && i > 0:
		return 0
	case s.duringTheReshard:
		return 1
	case s.afterTheReshard:
		return 2
	}
	return -1
}

// reshardFiguresOf computes the per-second series and the figures:
// "before" is the seconds that ended before the reshard began at baseline,
// less the first (connections opening, the checker starting) when there
// are three or more; "during" those from the reshard's beginning to the
// end of its last step, "after" those that began a second after it.
func reshardFiguresOf(res *bench.Result, check consistency.Result, baseline, ended time.Duration) reshardFigures {
	fig := reshardFigures{minHit: 2, errors: int(res.Errors) + check.Errors, stale: check.Stale, checkerReads: check.Reads, acked: check.Acked,
		afterFailedWrite: staleAfterFailedWrite(check)}
	var hits, reads uint64
	var p99s []time.Duration
	for i, p := range res.Series {
		s := reshardSecondOf(i, p, check, baseline)
		s.duringTheReshard = !s.beforeTheReshard && (ended == 0 || p.T-p.Dur <= ended)
		if s.beforeTheReshard && (i > 0 || baseline < 3*time.Second) {
			hits, reads = hits+uint64(s.localHit*float64(s.reads)+0.5), reads+s.reads
			p99s = append(p99s, s.p99)
		}
		if ended > 0 && p.T-p.Dur > ended+time.Second {
			s.afterTheReshard = true
			fig.afterMaxP99 = max(fig.afterMaxP99, s.p99)
		}
		fig.seconds = append(fig.seconds, s)
	}
	fig.beforeHit = ratioOf(hits, reads)
	for _, p := range p99s {
		fig.beforeMeanP99 += p / time.Duration(len(p99s))
	}
	fig.findWorst()
	fig.beforeP99, fig.beforeSeconds = fairBefore(p99s, fig.duringSeconds())
	return fig
}

// windowP99s sets the p99 of every call in the reshard's whole seconds,
// from the second it began in to the one it ended in, and in as many
// seconds just before it (fewer when the run had fewer, its first second
// left out). p99Between is the trace's.
func (fig *reshardFigures) windowP99s(p99Between func(from, to time.Duration) (time.Duration, uint64), baseline, ended time.Duration) {
	if ended <= baseline {
		return
	}
	from, to := baseline.Truncate(time.Second), ended.Truncate(time.Second)+time.Second
	bFrom := max(from-(to-from), time.Second)
	fig.windowP99, fig.windowCalls = p99Between(from, to)
	fig.beforeWindowP99, fig.beforeWindowCalls = p99Between(bFrom, from)
	fig.windowSecs, fig.beforeWindowSecs = int((to-from)/time.Second), int((from-bFrom)/time.Second)
}

// fairBefore is the p99 the seconds of the reshard are judged against:
// the worst second of the last n seconds before it (all of them when
// fewer), n the seconds the reshard lasted, so that both windows are as
// long and judged by the same statistic. A worst second of many against
// the mean of a few would fail with nothing changing: a per-second p99
// varies from second to second, and the worst of 40 seconds lies well
// above their mean.
func fairBefore(before []time.Duration, n int) (time.Duration, int) {
	if n < len(before) {
		before = before[len(before)-n:]
	}
	var worst time.Duration
	for _, p := range before {
		worst = max(worst, p)
	}
	return worst, len(before)
}

// duringSeconds counts the seconds of the reshard that had reads.
func (fig *reshardFigures) duringSeconds() int {
	n := 0
	for _, s := range fig.seconds {
		if s.duringTheReshard && s.reads > 0 {
			n++
		}
	}
	return n
}

// findWorst sets the lowest local hit ratio and the highest p99 of the
// seconds of the reshard, and when they happened.
func (fig *reshardFigures) findWorst() {
	for _, s := range fig.seconds {
		if !s.duringTheReshard || s.reads == 0 {
			continue
		}
		if s.localHit < fig.minHit {
			fig.minHit, fig.minHitAt = s.localHit, s.t
		}
		if s.p99 > fig.maxP99 {
			fig.maxP99, fig.maxP99At = s.p99, s.t
		}
	}
}

// reshardSecondOf is second i of the run, p, with the checker's counts of
// that second (the history's phase i).
func reshardSecondOf(i int, p bench.Point, check consistency.Result, baseline time.Duration) reshardSecond {
	phase := strconv.Itoa(i)
	s := reshardSecond{t: p.T, p99: p.P99Duration(), beforeTheReshard: p.T <= baseline,
		errors: int(p.Errors) + check.ErrorsByPhase[phase], stale: check.StaleByPhase[phase]}
	for _, z := range p.Zones {
		if z.Zone == "a" {
			s.reads = z.Hits + z.Misses + z.Errors
			s.misses, s.nodeErrs = z.Misses, z.Errors
			s.localHit = ratioOf(z.Hits, s.reads)
		}
	}
	return s
}

// staleAfterFailedWrite counts the stale reads answered by a node the
// newer write to had failed (a timeout, an open breaker): the client's
// documented window, until the writer's repair lands ("a replica failed W
// but answers others" in the README's consistency guarantees).
func staleAfterFailedWrite(check consistency.Result) int {
	n := 0
	for k, c := range check.Causes {
		if strings.HasSuffix(k, consistency.CauseNodeFailed) || strings.HasSuffix(k, consistency.CauseNodeFailedRepaired) {
			n += c
		}
	}
	return n
}

func ratioOf(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// writeReshardCopies prints what each step's copy and clean-up did.
func writeReshardCopies(w io.Writer, copies []reshardCopy, rate float64) {
	if len(copies) == 0 {
		return
	}
	fmt.Fprintf(w, "\nreshard copies (reshard.Reshard; copy rate limit %.0f keys/s, concurrency %d):\n", rate, reshardCopyConcurrency)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tplanned keys\tMB\tcopied\tpresent\tgone\tfailed\ttook\tkeys/s\tpurge: scanned\tdeleted")
	for _, c := range copies {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%d\t%d\t%d\t%v\t%.0f\t%d\t%d\n", c.step, c.keys, float64(c.bytes)/1e6,
			c.stats.Copied, c.stats.Present, c.stats.Gone, c.stats.Failed, c.took.Round(time.Millisecond),
			float64(c.stats.Copied)/max(c.took.Seconds(), 1e-3), c.cleaned.Scanned, c.cleaned.Deleted)
	}
	tw.Flush()
}

// writeReshardSeconds prints the per-second series with the events.
func writeReshardSeconds(w io.Writer, res *bench.Result, fig reshardFigures) {
	fmt.Fprintf(w, "\nper second (local hit = reads answered by zone a, the client's zone; a reads it did not answer missed there\n"+
		"or met a node error (timeout, open breaker) and fell back; caller errors = the demo's and the checker's):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tlocal hit\ta misses\ta node errors\tcaller errors\tp99\tstale\t")
	ev := 0
	events := func(upTo time.Duration) {
		for ; ev < len(res.Events) && res.Events[ev].At <= upTo; ev++ {
			e := res.Events[ev]
			label := e.Label
			if e.Err != "" {
				label += " (error: " + e.Err + ")"
			}
			fmt.Fprintf(tw, "%.1fs\t\t\t\t\t\t\t  --- %s\n", e.At.Seconds(), label)
		}
	}
	for _, s := range fig.seconds {
		events(s.t)
		fmt.Fprintf(tw, "%.1fs\t%.2f%%\t%d\t%d\t%d\t%v\t%d\t\n", s.t.Seconds(), 100*s.localHit, s.misses, s.nodeErrs, s.errors,
			s.p99.Round(10*time.Microsecond), s.stale)
	}
	events(time.Duration(1<<63 - 1))
	tw.Flush()
}

// writeReshardTargets prints each target of the issue, PASS or FAIL,
// then a line naming those that failed; others is the rest of the
// machine's CPU per second, for the p99 target's context.
func writeReshardTargets(w io.Writer, fig reshardFigures, done, steps int, others []time.Duration) {
	var failed []string
	judge := func(name string, ok bool) string {
		if ok {
			return "PASS"
		}
		failed = append(failed, name)
		return "FAIL"
	}
	fmt.Fprintf(w, "\nreshard targets (before = the seconds before the reshard: local hit %.2f%%; p99 %v, the worst of the last %d\n"+
		"seconds before it, as many as the reshard lasted (their mean p99 %v)):\n",
		100*fig.beforeHit, fig.beforeP99.Round(10*time.Microsecond), fig.beforeSeconds, fig.beforeMeanP99.Round(10*time.Microsecond))
	fmt.Fprintf(w, "  steps done:                    %d of %d  %s\n", done, steps, judge("steps", done == steps))
	if fig.minHit > 1 {
		fmt.Fprintf(w, "  local hit ratio >= %.0f%% of before at every second: no second of the reshard measured  %s\n", 100*reshardMinHitShare, judge("local hit ratio", false))
	} else {
		fmt.Fprintf(w, "  local hit ratio >= %.0f%% of before at every second of the reshard: min %.2f%% (%.1f%% of before) at %.1fs  %s\n",
			100*reshardMinHitShare, 100*fig.minHit, 100*fig.minHit/fig.beforeHit, fig.minHitAt.Seconds(), judge("local hit ratio", fig.minHit >= reshardMinHitShare*fig.beforeHit))
	}
	fmt.Fprintf(w, "  caller errors = 0:             %d  %s\n", fig.errors, judge("caller errors", fig.errors == 0))
	fmt.Fprintf(w, "  stale reads = 0:               %d of %d checked reads (%d after a write to the answering node had failed)  %s\n",
		fig.stale, fig.checkerReads, fig.afterFailedWrite, judge("stale reads", fig.stale == 0 && fig.checkerReads > 0))
	fmt.Fprintf(w, "  online p99 <= %.1fx before at every second of the reshard: max %v (%.2fx; %.2fx the mean before) at %.1fs  %s\n", reshardMaxP99Ratio,
		fig.maxP99.Round(10*time.Microsecond), float64(fig.maxP99)/float64(max(fig.beforeP99, 1)),
		float64(fig.maxP99)/float64(max(fig.beforeMeanP99, 1)), fig.maxP99At.Seconds(),
		judge("online p99", fig.minHit <= 1 && fig.beforeP99 > 0 && float64(fig.maxP99) <= reshardMaxP99Ratio*float64(fig.beforeP99)))
	fmt.Fprintf(w, "  online p99 of the reshard's calls <= %.1fx that of as long a window before: %v over %d calls in %d s, against %v over %d calls in %d s (%.2fx)  %s\n",
		reshardMaxP99Ratio, fig.windowP99.Round(10*time.Microsecond), fig.windowCalls, fig.windowSecs,
		fig.beforeWindowP99.Round(10*time.Microsecond), fig.beforeWindowCalls, fig.beforeWindowSecs,
		float64(fig.windowP99)/float64(max(fig.beforeWindowP99, 1)),
		judge("online p99 of the window", fig.windowCalls > 0 && fig.beforeWindowCalls > 0 && float64(fig.windowP99) <= reshardMaxP99Ratio*float64(fig.beforeWindowP99)))
	if fig.afterMaxP99 > 0 {
		fmt.Fprintf(w, "    (for scale: max p99 of a second after the reshard ended, nothing changing: %v)\n", fig.afterMaxP99.Round(10*time.Microsecond))
	}
	writeP99Context(w, fig, others)
	if len(failed) == 0 {
		fmt.Fprintln(w, "reshard targets: PASS")
	} else {
		fmt.Fprintf(w, "reshard targets: FAIL (%s)\n", strings.Join(failed, ", "))
	}
}

// busiestBefore is the most CPU the rest of the machine used in a second
// before the reshard (the first second, connections opening, left out).
func busiestBefore(fig reshardFigures, others []time.Duration) time.Duration {
	var busiest time.Duration
	for i, s := range fig.seconds {
		if i > 0 && i < len(others) && s.beforeTheReshard {
			busiest = max(busiest, others[i])
		}
	}
	return busiest
}

// writeP99Context prints what the machine's other load explains of the
// p99 target: the CPU of the rest of the machine (other sessions) in the
// worst second, and the worst p99 of the seconds of the reshard in which
// the rest of the machine used no more CPU than in the busiest second
// before. others[i] is second i's (see reshardTrace).
func writeP99Context(w io.Writer, fig reshardFigures, others []time.Duration) {
	var quietP99, quietAt time.Duration
	quiet, during, busiest := 0, 0, busiestBefore(fig, others)
	for i, s := range fig.seconds {
		if i >= len(others) || !s.duringTheReshard || s.reads == 0 {
			continue
		}
		if s.t == fig.maxP99At {
			fmt.Fprintf(w, "    worst second %.1fs: the rest of the machine used %d ms of CPU (2 CPUs: 2000 ms), at most %d ms in a second before\n",
				s.t.Seconds(), others[i].Milliseconds(), busiest.Milliseconds())
		}
		during++
		if others[i] <= busiest {
			quiet++
			if s.p99 > quietP99 {
				quietP99, quietAt = s.p99, s.t
			}
		}
	}
	if quiet > 0 && fig.beforeP99 > 0 {
		fmt.Fprintf(w, "    (for scale, not the target: the %d of %d seconds of the reshard in which the rest of the machine used no more: max p99 %v (%.2fx) at %.1fs)\n",
			quiet, during, quietP99.Round(10*time.Microsecond), float64(quietP99)/float64(fig.beforeP99), quietAt.Seconds())
	}
}
