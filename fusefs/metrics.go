package fusefs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the mount's Prometheus metrics; register them with
// NewMetrics on the node's registry and pass them in Options.
type Metrics struct {
	ops     *prometheus.HistogramVec
	errors  *prometheus.CounterVec
	read    prometheus.Counter
	written prometheus.Counter
}

// NewMetrics creates and registers the FUSE metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ops: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clusterf_fuse_op_duration_seconds",
			Help:    "FUSE operations served, by operation, with their latency.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clusterf_fuse_op_errors_total",
			Help: "FUSE operations that returned an error, by operation and errno.",
		}, []string{"op", "errno"}),
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clusterf_fuse_read_bytes_total", Help: "Bytes read through the mount.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clusterf_fuse_written_bytes_total", Help: "Bytes written through the mount.",
		}),
	}
	reg.MustRegister(m.ops, m.errors, m.read, m.written)
	return m
}

func (m *mount) observe(op string, start time.Time) {
	if m.opts.Metrics != nil {
		m.opts.Metrics.ops.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
}
