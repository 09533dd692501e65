package server

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds the server's Prometheus collectors in its own registry, so two
// servers in one process (tests) never collide.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.HistogramVec
	batchSize  *prometheus.HistogramVec
	batchSecs  *prometheus.HistogramVec
	queueDepth *prometheus.GaugeVec
	indexSize  *prometheus.GaugeVec
	recall     prometheus.Gauge
	jobs       prometheus.Gauge
}

func newMetrics() (*metrics, error) {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imglish_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imglish_encoder_batch_size",
			Help:    "Inputs per encoder batch after request coalescing.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}, []string{"tower"}),
		batchSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imglish_encoder_batch_duration_seconds",
			Help:    "Encoder latency per batch.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"tower"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imglish_queue_depth",
			Help: "Requests waiting: for an encoder batch (text, image) or for a work slot (admission).",
		}, []string{"queue"}),
		indexSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imglish_index_size",
			Help: "Vectors in each searchable space.",
		}, []string{"space"}),
		recall: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imglish_index_recall_self_check",
			Help: "Recall@10 of the HNSW graph against exact search on a random sample (last self-check).",
		}),
		jobs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "imglish_index_jobs_running",
			Help: "Index jobs currently running.",
		}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.batchSize, m.batchSecs, m.queueDepth, m.indexSize,
		m.recall, m.jobs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		errs = append(errs, m.reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return m, nil
}
