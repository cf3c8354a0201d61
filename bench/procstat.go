package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times. It is 100 on
// every Linux architecture Go supports; the kernel ABI fixes it.
const clockTicks = 100

// ProcSample is the resource use of a process tree at one moment.
type ProcSample struct {
	Pids       int     // processes in the tree
	RSSBytes   int64   // sum of resident set sizes
	CPUSeconds float64 // user+system time of the live tree plus reaped children
}

// procStat holds the fields of /proc/<pid>/stat the harness needs.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
	rssPages                     int64
}

// readProcStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func readProcStat(pid int) (procStat, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(raw))
}

func parseProcStat(s string) (procStat, error) {
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("malformed stat line")
	}
	// After ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16)
	// cstime(17) ... rss(24); f[0] is field 3.
	f := strings.Fields(s[end+1:])
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("short stat line: %d fields", len(f))
	}
	num := func(i int) int64 {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return v
	}
	return procStat{
		ppid:  int(num(1)),
		utime: num(11), stime: num(12), cutime: num(13), cstime: num(14),
		rssPages: num(21),
	}, nil
}

// SampleTree measures root and every live descendant. Prefect's server runs
// under uvicorn and may fork helpers; Warden is one process. Children that
// exited and were waited for are in the parents' cutime/cstime.
func SampleTree(root int) (ProcSample, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return ProcSample{}, err
	}
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil {
			continue // exited while we walked /proc
		}
		stats[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	if _, ok := stats[root]; !ok {
		return ProcSample{}, fmt.Errorf("process %d is gone", root)
	}
	page := int64(os.Getpagesize())
	var out ProcSample
	var ticks int64
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		st := stats[pid]
		out.Pids++
		out.RSSBytes += st.rssPages * page
		ticks += st.utime + st.stime + st.cutime + st.cstime
		queue = append(queue, children[pid]...)
	}
	out.CPUSeconds = float64(ticks) / clockTicks
	return out, nil
}
