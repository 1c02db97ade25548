package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The revocation runs share this machine's cores between the load, the
// verifier and the control plane. What each process used is printed beside
// the latencies, and one run gives the control plane a core of its own, as
// a cluster's control plane has machines of its own: the load then competes
// with the verifier only.

// cores is the number of CPUs this program could use as it started, before
// any pinning.
var cores = runtime.NumCPU()

// process is a process of the run whose CPU time is reported.
type process struct {
	name string
	pid  int
}

// controlPlaneProcesses returns the kube-apiserver and etcd this program
// started (its children of those names).
func controlPlaneProcesses() ([]process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var ps []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, ok := procStat(pid)
		if ok && ppid == os.Getpid() && (comm == "kube-apiserver" || comm == "etcd") {
			ps = append(ps, process{comm, pid})
		}
	}
	if len(ps) != 2 {
		return nil, fmt.Errorf("found %d of kube-apiserver and etcd among this program's children", len(ps))
	}
	return ps, nil
}

// procStat reads the command name and parent of pid from /proc/<pid>/stat.
func procStat(pid int) (comm string, ppid int, ok bool) {
	fields, comm, ok := statFields(pid)
	if !ok {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return comm, ppid, err == nil
}

// statFields returns the fields of /proc/<pid>/stat after the command name
// (state first) and the name itself, which may hold spaces.
func statFields(pid int) ([]string, string, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, "", false
	}
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return nil, "", false
	}
	fields := strings.Fields(s[closing+1:])
	return fields, s[open+1 : closing], len(fields) > 13
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time pid has used, user and system.
func cpuTime(pid int) time.Duration {
	fields, _, ok := statFields(pid)
	if !ok {
		return 0
	}
	// utime and stime are the stat file's 14th and 15th fields.
	user, _ := strconv.ParseInt(fields[11], 10, 64)
	system, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(user+system) * clockTick
}

// cpuMeter adds up the CPU time processes use over the spans it measures.
type cpuMeter struct {
	ps      []process
	used    []time.Duration
	elapsed time.Duration
}

func newCPUMeter(ps []process) *cpuMeter {
	return &cpuMeter{ps: ps, used: make([]time.Duration, len(ps))}
}

// measure starts a span, which the function it returns ends.
func (m *cpuMeter) measure() func() {
	start := time.Now()
	before := make([]time.Duration, len(m.ps))
	for i, p := range m.ps {
		before[i] = cpuTime(p.pid)
	}
	return func() {
		for i, p := range m.ps {
			m.used[i] += cpuTime(p.pid) - before[i]
		}
		m.elapsed += time.Since(start)
	}
}

// String gives each process's CPU time as a share of the machine's cores
// over the spans measured.
func (m *cpuMeter) String() string {
	parts := make([]string, len(m.ps))
	for i, p := range m.ps {
		parts[i] = fmt.Sprintf("%s %.0f%%", p.name, 100*float64(m.used[i])/float64(m.elapsed*time.Duration(cores)))
	}
	return strings.Join(parts, ", ")
}

// pin sets the CPUs every thread of pid may run on (threads it starts
// later inherit the set of the thread that starts them).
func pin(pid int, cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return fmt.Errorf("threads of process %d: %w", pid, err)
	}
	if len(tasks) == 0 {
		return fmt.Errorf("process %d has no threads in /proc: it has ended", pid)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(filepath.Base(t))
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pinning thread %d of process %d: %w", tid, pid, err)
		}
	}
	return nil
}

// separate gives the control plane CPU 0 and the other processes (this
// program and the verifier) the rest, and returns a function that lets every
// process run anywhere again.
func separate(controlPlane, others []process) (func() error, error) {
	all := make([]int, cores)
	for i := range all {
		all[i] = i
	}
	rest := all[1:]
	undo := func() error {
		for _, p := range append(append([]process{}, controlPlane...), others...) {
			if err := pin(p.pid, all...); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range controlPlane {
		if err := pin(p.pid, 0); err != nil {
			return nil, errors.Join(err, undo())
		}
	}
	for _, p := range others {
		if err := pin(p.pid, rest...); err != nil {
			return nil, errors.Join(err, undo())
		}
	}
	return undo, nil
}

// settle waits until ps together use less than a tenth of a core over a
// second, for two minutes at most; if they never do, it says so in the
// output, beside the figure that follows.
func settle(ps []process) {
	start := time.Now()
	var used time.Duration
	for time.Since(start) < 2*time.Minute {
		var before time.Duration
		for _, p := range ps {
			before += cpuTime(p.pid)
		}
		time.Sleep(time.Second)
		used = -before
		for _, p := range ps {
			used += cpuTime(p.pid)
		}
		if used < 100*time.Millisecond {
			return
		}
	}
	fmt.Printf("(the control plane is still busy after %s: %.0f%% of a core; the next figure is taken anyway)\n", time.Since(start).Round(time.Second), 100*used.Seconds())
}
