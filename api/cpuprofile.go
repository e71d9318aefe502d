package api

import (
	"bytes"
	"net/http"
	"runtime"
	runtimepprof "runtime/pprof"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// CPU profiling on demand (the dashboard's /profiling page, and
// --profiling from the start): one process-wide CPU profile into memory,
// started and stopped by request; the last stopped profile can be
// downloaded (pprof format) or drawn as a flame graph (/flamegraph?source=last).
// Mutex and block profiling (sampled contention) can be switched on and off.

type cpuProfiler struct {
	mu         sync.Mutex
	running    bool
	buf        *bytes.Buffer
	startedAt  time.Time
	reason     string
	last       []byte
	lastStart  time.Time
	lastStop   time.Time
	contention bool
}

var cpuProf cpuProfiler

// Contention sampling rates while switched on: one in mutexFraction
// mutex contention events, blocking events of at least blockRateNs.
const (
	mutexFraction = 5
	blockRateNs   = 10000
)

// StartCPUProfile starts the process-wide CPU profile (reason says who:
// "--profiling", "dashboard"). An error when a CPU profile is running.
func StartCPUProfile(reason string) error {
	cpuProf.mu.Lock()
	defer cpuProf.mu.Unlock()
	if cpuProf.running {
		return httpErr(http.StatusConflict, "CPU profiling is already running (since "+cpuProf.startedAt.Format(time.RFC3339)+", "+cpuProf.reason+")")
	}
	buf := &bytes.Buffer{}
	if err := runtimepprof.StartCPUProfile(buf); err != nil {
		return httpErr(http.StatusConflict, "CPU profiling is already running (a flame graph is being recorded): "+err.Error())
	}
	cpuProf.running, cpuProf.buf, cpuProf.startedAt, cpuProf.reason = true, buf, time.Now().UTC(), reason
	return nil
}

// StopCPUProfile stops the CPU profile StartCPUProfile started and keeps
// it as the last profile.
func StopCPUProfile() error {
	cpuProf.mu.Lock()
	defer cpuProf.mu.Unlock()
	if !cpuProf.running {
		return httpErr(http.StatusConflict, "CPU profiling is not running")
	}
	runtimepprof.StopCPUProfile()
	cpuProf.last, cpuProf.lastStart, cpuProf.lastStop = cpuProf.buf.Bytes(), cpuProf.startedAt, time.Now().UTC()
	cpuProf.running, cpuProf.buf = false, nil
	return nil
}

// lastCPUProfile returns the last stopped profile (nil if none).
func lastCPUProfile() []byte {
	cpuProf.mu.Lock()
	defer cpuProf.mu.Unlock()
	return cpuProf.last
}

// ProfilingStatus is the answer of the /api/profiling endpoints.
type ProfilingStatus struct {
	Running    bool       `json:"running"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Last       *LastCPU   `json:"last,omitempty"`
	Contention bool       `json:"contention"` // mutex and block profiles are sampled
	Goroutines int        `json:"goroutines"`
}

// LastCPU describes the last stopped CPU profile.
type LastCPU struct {
	Bytes     int       `json:"bytes"`
	StartedAt time.Time `json:"started_at"`
	StoppedAt time.Time `json:"stopped_at"`
}

func profilingStatus() ProfilingStatus {
	cpuProf.mu.Lock()
	defer cpuProf.mu.Unlock()
	st := ProfilingStatus{Running: cpuProf.running, Reason: cpuProf.reason, Contention: cpuProf.contention, Goroutines: runtime.NumGoroutine()}
	if cpuProf.running {
		t := cpuProf.startedAt
		st.StartedAt = &t
	} else {
		st.Reason = ""
	}
	if cpuProf.last != nil {
		st.Last = &LastCPU{Bytes: len(cpuProf.last), StartedAt: cpuProf.lastStart, StoppedAt: cpuProf.lastStop}
	}
	return st
}

func (s *Server) registerCPUProfile() {
	e := s.echo
	e.GET("/api/profiling", func(c echo.Context) error { return c.JSON(http.StatusOK, profilingStatus()) })
	e.POST("/api/profiling/cpu/start", func(c echo.Context) error {
		if err := StartCPUProfile("dashboard"); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, profilingStatus())
	})
	e.POST("/api/profiling/cpu/stop", func(c echo.Context) error {
		if err := StopCPUProfile(); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, profilingStatus())
	})
	e.GET("/api/profiling/cpu.pprof", func(c echo.Context) error {
		b := lastCPUProfile()
		if b == nil {
			return httpErr(http.StatusNotFound, "no CPU profile recorded yet: start and stop one first")
		}
		c.Response().Header().Set("Content-Disposition", `attachment; filename="cpu.pprof"`)
		return c.Blob(http.StatusOK, "application/octet-stream", b)
	})
	e.POST("/api/profiling/contention", s.postContention)
}

// postContention switches mutex and block profiling on or off
// ({"enabled": bool}); they cost a little on every contended lock.
func (s *Server) postContention(c echo.Context) error {
	var b struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Enabled == nil {
		return httpErr(http.StatusBadRequest, `missing "enabled"`)
	}
	cpuProf.mu.Lock()
	cpuProf.contention = *b.Enabled
	if *b.Enabled {
		runtime.SetMutexProfileFraction(mutexFraction)
		runtime.SetBlockProfileRate(blockRateNs)
	} else {
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
	}
	cpuProf.mu.Unlock()
	return c.JSON(http.StatusOK, profilingStatus())
}
