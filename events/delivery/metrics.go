package delivery

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/events"
)

// Metrics are the deliveries' Prometheus series.
type Metrics struct {
	total  *prometheus.CounterVec
	oldest prometheus.Gauge
}

// NewMetrics registers the series on reg: otpgate_events_total{type,
// outcome}, every pair present from the start, and
// otpgate_events_oldest_pending_seconds.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "otpgate", Name: "events_total",
			Help: "Event delivery outcomes: delivered, retried (an attempt failed and the event waits for the next) and dropped (410 Gone, or 24 h of failures).",
		}, []string{"type", "outcome"}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "otpgate", Name: "events_oldest_pending_seconds",
			Help: "Age of the oldest event waiting for delivery; 0 when none waits.",
		}),
	}
	for _, t := range events.Types {
		for _, o := range []string{OutcomeDelivered, OutcomeRetried, OutcomeDropped} {
			m.total.WithLabelValues(string(t), o)
		}
	}
	for _, c := range []prometheus.Collector{m.total, m.oldest} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
