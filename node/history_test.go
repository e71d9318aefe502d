package node

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHistory: counters become rates, histograms mean latencies (without
// the long-lived routes), gauges stay; samples come oldest first.
func TestHistory(t *testing.T) {
	reg := prometheus.NewRegistry()
	fuse := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "clusterf_fuse_op_duration_seconds"})
	httpDur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "clusterf_http_request_duration_seconds"}, []string{"route"})
	stored := prometheus.NewGauge(prometheus.GaugeOpts{Name: "clusterf_chunks_stored"})
	reg.MustRegister(fuse, httpDur, stored)
	h := newHistory()
	t0 := time.Unix(1_000_000, 0)
	h.sample(reg, t0)
	for range 10 {
		fuse.Observe(0.002)
	}
	httpDur.WithLabelValues("/api/files/*").Observe(0.01)
	httpDur.WithLabelValues("/api/events").Observe(300) // a stream that ended: not a latency
	stored.Set(42)
	h.sample(reg, t0.Add(5*time.Second))
	snap := h.snapshot()
	if len(snap.Times) != 2 || snap.Times[0] != t0.Unix() {
		t.Fatalf("times %v", snap.Times)
	}
	want := map[string]float64{"FUSE operations": 2, "FUSE mean latency": 0.002, "HTTP mean latency": 0.01, "Chunks stored": 42}
	for _, s := range snap.Series {
		w, ok := want[s.Name]
		if !ok {
			continue
		}
		v := s.Values[1]
		if v == nil || *v < w*0.999 || *v > w*1.001 {
			t.Errorf("%s: %v, want %v", s.Name, v, w)
		}
		if s.Name == "FUSE operations" && s.Values[0] != nil {
			t.Errorf("a rate of the first sample: %v", *s.Values[0])
		}
	}
}
