//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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

	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + nodeName + "/proxy/metrics/resource").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("GET /metrics/resource: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse /metrics/resource: %v\n%s", err, raw)
	}
	for _, name := range []string{"node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics/resource has no %s", name)
		}
	}
	found := false
	for _, m := range fams["container_cpu_usage_seconds_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] == ns && labels["pod"] == "busy" && labels["container"] == "main" && m.Counter.GetValue() > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no cpu sample for %s/busy/main in:\n%s", ns, raw)
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
