package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// CPUReporter is implemented by Targets that know the CPU time of the server
// processes behind them: the harness reports it per operation, which stays
// comparable when a shared machine gives the servers different CPU shares.
type CPUReporter interface {
	// ServerCPU returns the servers' cumulative user + system CPU time.
	ServerCPU() (time.Duration, error)
}

// WithServerCPU returns t reporting the CPU time of the local processes
// pids (read from Linux's /proc) as a CPUReporter. It keeps t's
// ZoneReporter, if any.
func WithServerCPU(t Target, pids ...int) Target {
	c := cpuTarget{Target: t, pids: pids}
	if zr, ok := t.(ZoneReporter); ok {
		return cpuZoneTarget{cpuTarget: c, zr: zr}
	}
	return c
}

type cpuTarget struct {
	Target
	pids []int
}

// ServerCPU implements CPUReporter.
func (c cpuTarget) ServerCPU() (time.Duration, error) {
	var sum time.Duration
	for _, pid := range c.pids {
		d, err := ProcessCPU(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

type cpuZoneTarget struct {
	cpuTarget
	zr ZoneReporter
}

// ZoneStats implements ZoneReporter.
func (c cpuZoneTarget) ZoneStats() []ZoneStats { return c.zr.ZoneStats() }

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat CPU times; it
// is 100 on every mainstream architecture.
const clockTick = 10 * time.Millisecond

// ProcessCPU returns the user + system CPU time process pid has used, all
// threads included, from /proc/<pid>/stat (Linux; 10 ms resolution).
func ProcessCPU(pid int) (time.Duration, error) {
	user, system, err := ProcessCPUTimes(pid)
	return user + system, err
}

// ProcessCPUTimes returns the user and the system CPU time process pid has
// used, all threads included, from /proc/<pid>/stat (Linux; 10 ms
// resolution): where a server's CPU goes, its own code or the kernel's.
func ProcessCPUTimes(pid int) (user, system time.Duration, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("process cpu: %w", err)
	}
	return parseProcStatTimes(data)
}

// parseProcStatTimes reads utime and stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses, so fields are counted from the last ')'.
func parseProcStatTimes(data []byte) (user, system time.Duration, err error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("process cpu: no command name in /proc stat line")
	}
	fields := bytes.Fields(data[i+1:])
	// fields[0] is field 3 (state): utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("process cpu: %d fields after the command name, want ≥ 13", len(fields))
	}
	var times [2]time.Duration
	for j, f := range fields[11:13] {
		n, err := strconv.ParseUint(string(f), 10, 63)
		if err != nil {
			return 0, 0, fmt.Errorf("process cpu: field %q: %w", f, err)
		}
		times[j] = time.Duration(n) * clockTick
	}
	return times[0], times[1], nil
}

// ProcessSwitches returns how many times the threads of process pid now
// running have stopped running, waiting (voluntary: a blocking system
// call, a futex) or preempted, from /proc/<pid>/task/*/status (Linux):
// the wake-ups a server costs the machine. Threads that have exited are
// not counted.
func ProcessSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0, fmt.Errorf("process switches: %w", err)
	}
	var sum int64
	for _, t := range tasks {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/status")
		if err != nil {
			continue // the thread exited meanwhile
		}
		n, err := parseSwitches(data)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// parseSwitches adds the voluntary and nonvoluntary context switches of a
// /proc status file.
func parseSwitches(data []byte) (int64, error) {
	var sum int64
	found := 0
	for line := range bytes.Lines(data) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || (string(name) != "voluntary_ctxt_switches" && string(name) != "nonvoluntary_ctxt_switches") {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("process switches: %s: %w", name, err)
		}
		sum += n
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("process switches: %d of the 2 ctxt_switches lines in /proc status", found)
	}
	return sum, nil
}
