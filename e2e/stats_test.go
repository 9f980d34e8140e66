//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// TestStatsEndpoints reads /metrics/resource and /stats/summary through the
// API server's node proxy, as metrics-server and `kubectl get --raw` do, and
// finds a busy pod's container in both.
func TestStatsEndpoints(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("busy", busybox, "sh", "-c", "trap 'exit 0' TERM; while true; do :; done & wait"))
	waitPod(t, ns, "busy", 60*time.Second, "Running", isRunningReady)
	time.Sleep(2 * time.Second) // let it use some cpu

	fams, err := nodeMetrics(context.Background(), "/metrics/resource")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics/resource has no %s", name)
		}
	}
	if m := findMetric(fams, "container_cpu_usage_seconds_total", map[string]string{"namespace": ns, "pod": "busy", "container": "main"}); m.GetCounter().GetValue() <= 0 {
		t.Errorf("no cpu sample for %s/busy/main: %v", ns, m)
	}

	// Two reads a moment apart: the second has cpu rates since the first.
	readSummary(t)
	time.Sleep(1500 * time.Millisecond)
	summary := readSummary(t)
	if n := summary.Node; n.NodeName != nodeName || n.StartTime.IsZero() || n.CPU == nil || n.Memory == nil ||
		n.CPU.UsageNanoCores == nil || n.Memory.AvailableBytes == nil || n.Memory.RSSBytes == nil || n.Memory.PageFaults == nil {
		t.Errorf("summary node: %+v cpu %+v memory %+v", n, n.CPU, n.Memory)
	}
	var busy *statsv1alpha1.ContainerStats
	for _, p := range summary.Pods {
		if p.PodRef.Namespace == ns && p.PodRef.Name == "busy" && len(p.Containers) == 1 {
			busy = &p.Containers[0]
		}
	}
	if busy == nil || *busy.CPU.UsageCoreNanoSeconds == 0 {
		t.Fatalf("summary has no stats for %s/busy", ns)
	}
	// The container spins on one core: between a tenth of it and the whole node.
	if nc := busy.CPU.UsageNanoCores; nc == nil || *nc < 1e8 || *nc > 8e9 {
		t.Errorf("busy: usageNanoCores = %v", nc)
	}
	if m := busy.Memory; m.RSSBytes == nil || *m.RSSBytes == 0 || m.PageFaults == nil || *m.PageFaults == 0 || m.MajorPageFaults == nil {
		t.Errorf("busy: memory %+v", m)
	}
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != ns || p.PodRef.Name != "busy" {
			continue
		}
		// sh, its loop and wait: at least two processes.
		if p.ProcessStats == nil || *p.ProcessStats.ProcessCount < 2 {
			t.Errorf("busy: process stats %+v", p.ProcessStats)
		}
		// The pod's CNI interface.
		if p.Network == nil || p.Network.Name != "eth0" || p.Network.RxBytes == nil || p.Network.TxBytes == nil {
			t.Errorf("busy: network %+v", p.Network)
		}
	}
}

// TestCadvisorMetrics reads /metrics/cadvisor: the container_* series of
// a running container, with the labels dashboards select on.
func TestCadvisorMetrics(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("watched", busybox, "sleep", "3600"))
	p := waitPod(t, ns, "watched", 60*time.Second, "Running", isRunningReady)
	id := strings.TrimPrefix(containerStatus(p, "main").ContainerID, "containerd://")
	fams, err := nodeMetrics(context.Background(), "/metrics/cadvisor")
	if err != nil {
		t.Fatal(err)
	}
	series := func(name string, want map[string]string) bool { return findMetric(fams, name, want) != nil }
	ctr := map[string]string{"namespace": ns, "pod": "watched", "container": "main", "id": id, "name": id}
	for _, name := range []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_usage_bytes",
		"container_memory_rss", "container_processes", "container_start_time_seconds"} {
		if !series(name, ctr) {
			t.Errorf("/metrics/cadvisor has no %s for %s/watched/main", name, ns)
		}
	}
	if !series("container_cpu_usage_seconds_total", map[string]string{"pod": "watched", "image": containerStatus(p, "main").Image}) &&
		!series("container_cpu_usage_seconds_total", map[string]string{"pod": "watched", "image": busybox}) {
		t.Errorf("container_cpu_usage_seconds_total of watched has no image label")
	}
	for _, name := range []string{"container_network_receive_bytes_total", "container_network_transmit_bytes_total"} {
		if !series(name, map[string]string{"namespace": ns, "pod": "watched", "container": "", "interface": "eth0"}) {
			t.Errorf("/metrics/cadvisor has no %s for the pod's eth0", name)
		}
	}
}

func readSummary(t *testing.T) statsv1alpha1.Summary {
	t.Helper()
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + nodeName + "/proxy/stats/summary").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("GET /stats/summary: %v", err)
	}
	var summary statsv1alpha1.Summary
	if err := json.Unmarshal(raw, &summary); err != nil {
		t.Fatal(err)
	}
	return summary
}

// TestProbeMetrics reads /metrics/probes as Prometheus scrapes it: each
// probe run counted by type and result, labelled with its container and pod.
func TestProbeMetrics(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("probed", busybox, "sleep", "3600")
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}},
		PeriodSeconds: 1,
	}
	pod.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}},
		PeriodSeconds:    1,
		FailureThreshold: 1000, // failing, but never to a restart within the test
	}
	created := createPod(t, ns, pod)
	waitPod(t, ns, "probed", 60*time.Second, "Running", isRunningReady)
	count := func(ctx context.Context, probeType, result string) (float64, error) {
		fams, err := nodeMetrics(ctx, "/metrics/probes")
		if err != nil {
			return 0, err
		}
		m := findMetric(fams, "prober_probe_total", map[string]string{"namespace": ns, "pod": "probed", "container": "main",
			"pod_uid": string(created.UID), "probe_type": probeType, "result": result})
		return m.GetCounter().GetValue(), nil
	}
	eventually(t, 30*time.Second, "readiness successes and liveness failures counted", func(ctx context.Context) (bool, error) {
		ok, err1 := count(ctx, "Readiness", "successful")
		failed, err2 := count(ctx, "Liveness", "failed")
		return ok >= 2 && failed >= 2, errors.Join(err1, err2, fmt.Errorf("readiness successful %v, liveness failed %v", ok, failed))
	})
	zero := int64(0)
	deletePodAndWait(t, ns, "probed", &zero, 30*time.Second)
	eventually(t, 30*time.Second, "the pod's series gone with it", func(ctx context.Context) (bool, error) {
		n, err := count(ctx, "Readiness", "successful")
		return err == nil && n == 0, err
	})
}

// TestKubeletMetrics reads the kubelet's own metric names on /metrics.
func TestKubeletMetrics(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("counted", busybox, "sleep", "3600"))
	waitPod(t, ns, "counted", 60*time.Second, "Running", isRunningReady)
	fams, err := nodeMetrics(context.Background(), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v := fams["kubelet_running_pods"].GetMetric(); len(v) != 1 || v[0].Gauge.GetValue() < 1 {
		t.Errorf("kubelet_running_pods = %v", v)
	}
	if running := findMetric(fams, "kubelet_running_containers", map[string]string{"container_state": "running"}).GetGauge().GetValue(); running < 1 {
		t.Errorf("kubelet_running_containers{container_state=running} = %v", running)
	}
	for _, name := range []string{"kubelet_pod_start_duration_seconds", "kubelet_pod_worker_duration_seconds"} {
		count := uint64(0)
		for _, m := range fams[name].GetMetric() {
			count += m.Histogram.GetSampleCount()
		}
		if count == 0 {
			t.Errorf("%s has no samples", name)
		}
	}
}

// nodeMetrics reads a Prometheus endpoint of the node through the API
// server's node proxy, as a scraper parses it.
func nodeMetrics(ctx context.Context, path string) (map[string]*dto.MetricFamily, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + nodeName + "/proxy" + path).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w\n%s", path, err, raw)
	}
	return fams, nil
}

// findMetric is the first series of the family whose labels include want, or nil.
func findMetric(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			return m
		}
	}
	return nil
}
