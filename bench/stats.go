package bench

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Latencies collects request durations from concurrent workers.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Summary is a distribution in milliseconds.
type Summary struct {
	N        int
	P50, P99 float64
	Max      float64
}

// Summary sorts a copy and reports nearest-rank percentiles.
func (l *Latencies) Summary() Summary {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	return summarize(d)
}

func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	return Summary{N: len(d), P50: ms(percentile(d, 50)), P99: ms(percentile(d, 99)), Max: ms(d[len(d)-1])}
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(d))))
	rank = max(rank, 1)
	return d[min(rank, len(d))-1]
}

// Errors counts unexpected responses and failures, keyed by what failed,
// with the first sample of each kind for the report.
type Errors struct {
	mu      sync.Mutex
	counts  map[string]int
	samples map[string]string
}

// Add records one failure of kind (e.g. "POST /flow_runs/ 500").
func (e *Errors) Add(kind, sample string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts, e.samples = map[string]int{}, map[string]string{}
	}
	e.counts[kind]++
	if _, ok := e.samples[kind]; !ok {
		if len(sample) > 300 {
			sample = sample[:300] + "…"
		}
		e.samples[kind] = sample
	}
}

// Total is the number of failures recorded.
func (e *Errors) Total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.counts {
		n += c
	}
	return n
}

// Lines describes each kind of failure, sorted.
func (e *Errors) Lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for k, c := range e.counts {
		out = append(out, fmt.Sprintf("%s ×%d: %s", k, c, e.samples[k]))
	}
	slices.Sort(out)
	return out
}
