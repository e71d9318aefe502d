package media

import "github.com/prometheus/client_golang/prometheus"

// metrics are the service's Prometheus metrics.
type metrics struct {
	runs     *prometheus.CounterVec // mode
	segments prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Service) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "transcodes_started_total",
			Help: "ffmpeg stream runs started, by mode (remux, remux-audio-encode, encode).",
		}, []string{"mode"}),
		segments: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "segments_served_total",
			Help: "HLS segments served.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "transcodes_running",
			Help: "ffmpeg stream runs holding a transcode slot.",
		}, func() float64 { return float64(len(s.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "processes",
			Help: "ffmpeg and ffprobe processes running.",
		}, func() float64 { return float64(s.Processes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "cache_bytes",
			Help: "Bytes in the media cache (whole 4 KiB blocks).",
		}, func() float64 { u, _ := s.cache.usage(); return float64(u) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "cache_cap_bytes",
			Help: "The media cache's hard cap (--media-cache-size).",
		}, func() float64 { return float64(s.cache.cap) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "clusterf", Subsystem: "media", Name: "cache_evictions_total",
			Help: "Media cache entries evicted to stay under the cap.",
		}, func() float64 { return float64(s.cache.evictions()) }),
	}
	for _, c := range append(gauges, m.runs, m.segments) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
