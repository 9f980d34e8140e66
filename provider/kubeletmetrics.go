package provider

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
)

// The kubelet's own metrics that the agent has the same thing to say
// about, under the kubelet's names, on /metrics.
var (
	podStartDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Subsystem: "kubelet", Name: "pod_start_duration_seconds",
		Help:    "Duration in seconds from the node seeing a pod for the first time to the pod starting to run.",
		Buckets: []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600},
	})
	podWorkerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Subsystem: "kubelet", Name: "pod_worker_duration_seconds",
		Help:    "Duration in seconds to sync a single pod, by operation: create, sync or kill.",
		Buckets: prometheus.DefBuckets,
	}, []string{"operation"})
)

func init() {
	prometheus.MustRegister(podStartDuration, podWorkerDuration)
}

// operationOf names the work of a state as the kubelet's pod worker metric does.
func operationOf(s podState) string {
	switch s {
	case stateCreating:
		return "create"
	case stateTerminating:
		return "kill"
	}
	return "sync"
}

// observeStart records, once, how long the pod took from the worker's
// creation to running. An adopted pod started before this agent saw it.
func (w *worker) observeStart(st corev1.PodStatus, now time.Time) {
	if w.startObserved || st.Phase != corev1.PodRunning {
		return
	}
	w.startObserved = true
	podStartDuration.Observe(now.Sub(w.seen).Seconds())
}

// runningCollector counts the node's pods and containers, from the
// statuses last published: kubelet_running_pods (pods with a sandbox that
// have not ended) and kubelet_running_containers by container_state.
type runningCollector struct{ p *Pods }

var (
	runningPodsDesc = prometheus.NewDesc("kubelet_running_pods",
		"Number of pods that have a running pod sandbox.", nil, nil)
	runningContainersDesc = prometheus.NewDesc("kubelet_running_containers",
		"Number of containers currently running, exited or created.", []string{"container_state"}, nil)
)

func (c runningCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runningPodsDesc
	ch <- runningContainersDesc
}

func (c runningCollector) Collect(ch chan<- prometheus.Metric) {
	pods := 0
	states := map[string]int{"running": 0, "exited": 0, "created": 0}
	for _, w := range c.p.allWorkers() {
		st := w.currentStatus()
		if st.Phase == corev1.PodRunning || (st.Phase == corev1.PodPending && sandboxReady(st)) {
			pods++
		}
		for _, cs := range append(append(st.InitContainerStatuses, st.ContainerStatuses...), st.EphemeralContainerStatuses...) {
			switch {
			case cs.State.Running != nil:
				states["running"]++
			case cs.State.Terminated != nil:
				states["exited"]++
			case cs.ContainerID != "":
				states["created"]++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(runningPodsDesc, prometheus.GaugeValue, float64(pods))
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(runningContainersDesc, prometheus.GaugeValue, float64(n), state)
	}
}

func sandboxReady(st corev1.PodStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReadyToStartContainers {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// allWorkers are the workers of the node's pods.
func (p *Pods) allWorkers() []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		out = append(out, w)
	}
	return out
}

// RunningCollector is the kubelet's running pods and containers gauges, to
// be registered where /metrics is served.
func (p *Pods) RunningCollector() prometheus.Collector { return runningCollector{p} }
