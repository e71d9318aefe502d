package node

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/clusterf/clusterf/api"
)

// Metric history: the dashboard's /metrics graphs come from a small ring
// of samples of the node's own registry, taken every historyInterval, so
// they work without a Prometheus server (docs/web.md). Counters become
// rates, histogram sums and counts become mean latencies.

const (
	historyInterval = 5 * time.Second
	historySize     = 720 // one hour
)

// seriesDef says how one history series is computed from a gather.
type seriesDef struct {
	name, unit, group string
	// value computes the series from the current and previous totals
	// (NaN: not available).
	value func(cur, prev totals, dt float64) float64
}

// totals are the sums of metric families at one gather.
type totals map[string]float64

func rate(metric string) func(cur, prev totals, dt float64) float64 {
	return func(cur, prev totals, dt float64) float64 {
		c, ok1 := cur[metric]
		p, ok2 := prev[metric]
		if !ok1 || !ok2 || dt <= 0 || c < p {
			return math.NaN()
		}
		return (c - p) / dt
	}
}

func gauge(metric string) func(cur, prev totals, dt float64) float64 {
	return func(cur, _ totals, _ float64) float64 {
		if v, ok := cur[metric]; ok {
			return v
		}
		return math.NaN()
	}
}

// meanLatency is Δsum / Δcount of a histogram (NaN when nothing happened).
func meanLatency(hist string) func(cur, prev totals, dt float64) float64 {
	return func(cur, prev totals, _ float64) float64 {
		dc := cur[hist+"_count"] - prev[hist+"_count"]
		if dc <= 0 {
			return math.NaN()
		}
		return (cur[hist+"_sum"] - prev[hist+"_sum"]) / dc
	}
}

var historySeries = []seriesDef{
	{"FUSE operations", "ops/s", "fuse", rate("clusterf_fuse_op_duration_seconds_count")},
	{"FUSE mean latency", "seconds", "fuse_latency", meanLatency("clusterf_fuse_op_duration_seconds")},
	{"HTTP requests", "ops/s", "http", rate("clusterf_http_request_duration_seconds_count")},
	{"HTTP mean latency", "seconds", "http_latency", meanLatency("clusterf_http_request_duration_seconds")},
	{"FUSE read", "bytes/s", "bytes", rate("clusterf_fuse_read_bytes_total")},
	{"FUSE written", "bytes/s", "bytes", rate("clusterf_fuse_written_bytes_total")},
	{"HTTP uploaded", "bytes/s", "bytes", rate("clusterf_http_upload_bytes_total")},
	{"HTTP sent", "bytes/s", "bytes", rate("clusterf_http_response_bytes_total")},
	{"Chunks fetched from peers", "bytes/s", "repair", rate("clusterf_chunk_fetched_bytes_total")},
	{"Garbage collected", "bytes/s", "repair", rate("clusterf_gc_collected_bytes_total")},
	{"Replication lag (max over peers)", "ops", "lag", gauge("max:clusterf_replication_lag_ops")},
	{"Chunks stored", "chunks", "chunks", gauge("clusterf_chunks_stored")},
	{"Bytes stored", "bytes", "stored", gauge("clusterf_chunk_bytes_stored")},
	{"Peers up", "peers", "peers", gauge("clusterf_peer_up")},
	{"Goroutines", "goroutines", "runtime", gauge("go_goroutines")},
	{"Heap in use", "bytes", "heap", gauge("go_memstats_heap_inuse_bytes")},
}

// history is the ring of samples.
type history struct {
	mu     sync.Mutex
	times  []int64
	values [][]float64 // [series][sample], same ring positions as times
	next   int         // ring position of the next sample
	full   bool
	prev   totals
	prevAt time.Time
}

func newHistory() *history {
	h := &history{times: make([]int64, historySize), values: make([][]float64, len(historySeries))}
	for i := range h.values {
		h.values[i] = make([]float64, historySize)
	}
	return h
}

// sumFamilies adds up every sample of each family (and keeps the maximum
// as "max:<name>"): per-label detail is for Prometheus, not these graphs.
func sumFamilies(mfs []*dto.MetricFamily) totals {
	t := totals{}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			if longRequest(m) {
				continue
			}
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Histogram != nil:
				t[name+"_count"] += float64(m.Histogram.GetSampleCount())
				t[name+"_sum"] += m.Histogram.GetSampleSum()
				continue
			default:
				continue
			}
			t[name] += v
			if old, ok := t["max:"+name]; !ok || v > old {
				t["max:"+name] = v
			}
		}
	}
	return t
}

// longRequests are routes that take long by design (an event stream, a
// profile being recorded): their durations would swamp the mean latency.
var longRequests = map[string]bool{"/api/events": true, "/flamegraph": true, "/debug/pprof/profile": true, "/debug/pprof/trace": true}

func longRequest(m *dto.Metric) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == "route" && longRequests[l.GetValue()] {
			return true
		}
	}
	return false
}

// sample gathers reg once and records a sample.
func (h *history) sample(reg prometheus.Gatherer, now time.Time) {
	mfs, err := reg.Gather()
	if err != nil && len(mfs) == 0 {
		return
	}
	cur := sumFamilies(mfs)
	h.mu.Lock()
	defer h.mu.Unlock()
	dt := now.Sub(h.prevAt).Seconds()
	prev := h.prev
	if prev == nil {
		prev = totals{}
	}
	h.times[h.next] = now.Unix()
	for i, d := range historySeries {
		h.values[i][h.next] = d.value(cur, prev, dt)
	}
	h.next = (h.next + 1) % historySize
	h.full = h.full || h.next == 0
	h.prev, h.prevAt = cur, now
}

// snapshot returns the samples, oldest first.
func (h *history) snapshot() api.MetricsHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	start, n := 0, h.next
	if h.full {
		start, n = h.next, historySize
	}
	out := api.MetricsHistory{Interval: api.Duration(historyInterval), Times: make([]int64, 0, n)}
	for i := 0; i < n; i++ {
		out.Times = append(out.Times, h.times[(start+i)%historySize])
	}
	for si, d := range historySeries {
		s := api.MetricsSeries{Name: d.name, Unit: d.unit, Group: d.group, Values: make([]*float64, 0, n)}
		for i := 0; i < n; i++ {
			v := h.values[si][(start+i)%historySize]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				s.Values = append(s.Values, nil)
				continue
			}
			s.Values = append(s.Values, &v)
		}
		out.Series = append(out.Series, s)
	}
	return out
}

// run samples every historyInterval until ctx ends.
func (h *history) run(ctx context.Context, reg prometheus.Gatherer) {
	t := time.NewTicker(historyInterval)
	defer t.Stop()
	h.sample(reg, time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			h.sample(reg, now)
		}
	}
}
