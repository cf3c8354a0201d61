// Command wardenprof is the warden command plus CPU profiling, for the
// benchmark harness only: Warden's server deliberately has no pprof.
//
// With WARDEN_BENCH_PPROF=host:port it also serves, on that separate
// loopback address:
//
//	POST /debug/bench/cpu/start {"path": "/tmp/x.pprof"}  starts a CPU profile
//	POST /debug/bench/cpu/stop                             writes and closes it
//	/debug/pprof/...                                       net/http/pprof
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	rpprof "runtime/pprof"
	"sync"

	"github.com/warden-orchestration/warden/internal/cli"
)

func main() {
	if addr := os.Getenv("WARDEN_BENCH_PPROF"); addr != "" {
		go serveProfiling(addr)
	}
	os.Exit(cli.Main(context.Background()))
}

type profiler struct {
	mu sync.Mutex
	f  *os.File
}

func (p *profiler) start(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Path string `json:"path"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Path == "" {
		http.Error(w, "want {\"path\": ...}", http.StatusUnprocessableEntity)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		http.Error(w, "a profile is running", http.StatusConflict)
		return
	}
	f, err := os.Create(body.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		f.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.f = f
	w.WriteHeader(http.StatusNoContent)
}

func (p *profiler) stop(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		http.Error(w, "no profile is running", http.StatusConflict)
		return
	}
	rpprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func serveProfiling(addr string) {
	runtime.SetMutexProfileFraction(5)
	p := &profiler{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /debug/bench/cpu/start", p.start)
	mux.HandleFunc("POST /debug/bench/cpu/stop", p.stop)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if err := http.ListenAndServe(addr, mux); err != nil {
		log.Print(fmt.Errorf("wardenprof: profiling listener: %w", err))
	}
}
