package provider

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// probeMetrics are the kubelet's /metrics/probes: every probe run counted
// by its type and result, and its duration, labelled by container and pod.
type probeMetrics struct {
	registry *prometheus.Registry
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Probe results as the kubelet labels them.
const (
	probeSuccessful = "successful"
	probeFailed     = "failed"
)

func newProbeMetrics() *probeMetrics {
	m := &probeMetrics{
		registry: prometheus.NewRegistry(),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Subsystem: "prober", Name: "probe_total",
			Help: "Cumulative number of a liveness, readiness or startup probe for a container by result.",
		}, []string{"probe_type", "result", "container", "pod", "namespace", "pod_uid"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Subsystem: "prober", Name: "probe_duration_seconds",
			Help:    "Duration in seconds for a probe response.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"probe_type", "container", "pod", "namespace"}),
	}
	m.registry.MustRegister(m.total, m.duration)
	return m
}

// observe counts one probe run of container c.
func (m *probeMetrics) observe(pod *corev1.Pod, c *corev1.Container, kind string, err error, took time.Duration) {
	result := probeSuccessful
	if err != nil {
		result = probeFailed
	}
	m.total.WithLabelValues(kind, result, c.Name, pod.Name, pod.Namespace, string(pod.UID)).Inc()
	m.duration.WithLabelValues(kind, c.Name, pod.Name, pod.Namespace).Observe(took.Seconds())
}

// forget drops the series of a pod that is gone, so that they do not grow
// with every pod the node ever ran.
func (m *probeMetrics) forget(uid types.UID, namespace, name string) {
	m.total.DeletePartialMatch(prometheus.Labels{"pod_uid": string(uid)})
	m.duration.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "pod": name})
}

// ProbeMetrics serves /metrics/probes.
func (p *Pods) ProbeMetrics() http.Handler {
	return promhttp.HandlerFor(p.probeMetrics.registry, promhttp.HandlerOpts{})
}
