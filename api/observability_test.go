package api

import (
	"bytes"
	"io"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, Config{Registry: reg, NodeID: "n1"})
	e.put("/api/files/m.txt", []byte("12345"))
	e.want(200, "GET", "/api/files/m.txt", nil)
	e.wantErr(404, "GET", "/api/files/none", nil)
	b := string(e.want(200, "GET", "/api/metrics", nil))
	for _, want := range []string{
		`clusterf_http_requests_total{code="201",method="PUT",node="n1",route="/api/files/*"} 1`,
		`clusterf_http_requests_total{code="200",method="GET",node="n1",route="/api/files/*"} 1`,
		`clusterf_http_requests_total{code="404",method="GET",node="n1",route="/api/files/*"} 1`,
		`clusterf_http_request_duration_seconds_bucket{method="GET",node="n1",route="/api/files/*",le="+Inf"} 2`,
		`clusterf_http_upload_bytes_total{node="n1"} 5`,
		`clusterf_http_requests_in_flight{node="n1"} 1`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A second node on the same registry registers fine.
	if _, err := New(Config{FS: e.fs, Registry: reg, NodeID: "n2"}); err != nil {
		t.Errorf("second server on one registry: %v", err)
	}
	// Unknown routes do not create label values from request paths.
	e.want(404, "GET", "/random/path/123", nil)
	b = string(e.want(200, "GET", "/api/metrics", nil))
	if strings.Contains(b, "/random/path") || !strings.Contains(b, `route="other"`) {
		t.Errorf("unmatched route label wrong")
	}
}

func TestProfiling(t *testing.T) {
	e := newEnv(t, Config{})
	if b := e.want(200, "GET", "/debug/pprof/", nil); !bytes.Contains(b, []byte("goroutine")) {
		t.Errorf("pprof index: %.200s", b)
	}
	e.want(200, "GET", "/debug/pprof/goroutine?debug=1", nil)
	e.want(200, "GET", "/debug/pprof/heap", nil)
	e.want(200, "GET", "/debug/pprof/cmdline", nil)
	e.want(200, "GET", "/debug/pprof/symbol", nil)

	// The flame graph of a real CPU profile: the pprof web UI page with
	// the profile's stacks as data.
	done := make(chan struct{})
	go func() { // give the profile something to sample
		defer close(done)
		x := 0
		for i := 0; i < 3e8; i++ {
			x += i ^ (x >> 3)
		}
		_ = x
	}()
	b := string(e.want(200, "GET", "/flamegraph?seconds=1", nil))
	<-done
	for _, want := range []string{"<html", "flamegraph", "stacks"} {
		if !strings.Contains(b, want) {
			t.Errorf("flamegraph page lacks %q", want)
		}
	}
	e.wantErr(400, "GET", "/flamegraph?seconds=0", nil)
	e.wantErr(400, "GET", "/flamegraph?seconds=61", nil)
	e.wantErr(400, "GET", "/flamegraph?seconds=x", nil)

	// The CPU profiler is process-wide: busy means 409.
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Fatal(err)
	}
	e.wantErr(409, "GET", "/flamegraph?seconds=1", nil)
	pprof.StopCPUProfile()

	b = string(e.want(200, "GET", "/memorygraph", nil))
	if !strings.Contains(b, "<html") || !strings.Contains(b, "inuse_space") {
		t.Errorf("memorygraph page: %.300s", b)
	}
	b = string(e.want(200, "GET", "/memorygraph?si=alloc_space", nil))
	if !strings.Contains(b, "alloc_space") {
		t.Errorf("memorygraph si=alloc_space: %.300s", b)
	}
}
