package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the request metrics of one Server.
type httpMetrics struct {
	requests  *prometheus.CounterVec   // method, route, code
	duration  *prometheus.HistogramVec // method, route
	inflight  prometheus.Gauge
	respBytes *prometheus.CounterVec // route
	upBytes   prometheus.Counter
}

func newDefaultRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newHTTPMetrics(reg *prometheus.Registry, node string) (*httpMetrics, error) {
	var constLabels prometheus.Labels
	if node != "" {
		constLabels = prometheus.Labels{"node": node}
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterf", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by method, route pattern and status code.", ConstLabels: constLabels,
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "clusterf", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern (until the handler returns).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), ConstLabels: constLabels,
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "clusterf", Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being served.", ConstLabels: constLabels,
		}),
		respBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "clusterf", Subsystem: "http", Name: "response_bytes_total",
			Help: "Bytes of HTTP response bodies by route pattern.", ConstLabels: constLabels,
		}, []string{"route"}),
		upBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "clusterf", Subsystem: "http", Name: "upload_bytes_total",
			Help: "Bytes received in file uploads (PUT /api/files).", ConstLabels: constLabels,
		}),
	}
	var err error
	m.requests = register(reg, m.requests, &err)
	m.duration = register(reg, m.duration, &err)
	m.inflight = register(reg, m.inflight, &err)
	m.respBytes = register(reg, m.respBytes, &err)
	m.upBytes = register(reg, m.upBytes, &err)
	return m, err
}

// register registers c, or returns the collector already registered under
// the same descriptor (a second Server on one registry with the same node).
func register[C prometheus.Collector](reg *prometheus.Registry, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		if *errp == nil {
			*errp = err
		}
	}
	return c
}

// observe is the metrics middleware.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		s.metrics.inflight.Inc()
		defer s.metrics.inflight.Dec()
		err := next(c)
		if err != nil {
			// Write the error now so the status is known here.
			c.Error(err)
		}
		route := c.Path()
		if !s.routes[route] {
			route = "other"
		}
		method := c.Request().Method
		if len(method) > 16 {
			method = "other"
		}
		code := strconv.Itoa(c.Response().Status)
		s.metrics.requests.WithLabelValues(method, route, code).Inc()
		s.metrics.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		s.metrics.respBytes.WithLabelValues(route).Add(float64(c.Response().Size))
		return nil
	}
}

// getMetrics serves the Prometheus exposition of the registry.
func (s *Server) getMetrics(c echo.Context) error {
	promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}).ServeHTTP(c.Response(), c.Request())
	return nil
}
