package provider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestProbeMetrics(t *testing.T) {
	m := newProbeMetrics()
	pod := appPod("Always", nil, "app")
	c := &pod.Spec.Containers[0]
	m.observe(pod, c, "Readiness", nil, 3*time.Millisecond)
	m.observe(pod, c, "Readiness", nil, 3*time.Millisecond)
	m.observe(pod, c, "Liveness", errors.New("connection refused"), time.Millisecond)
	want := `
# HELP prober_probe_total Cumulative number of a liveness, readiness or startup probe for a container by result.
# TYPE prober_probe_total counter
prober_probe_total{container="app",namespace="default",pod="web",pod_uid="` + string(testUID) + `",probe_type="Liveness",result="failed"} 1
prober_probe_total{container="app",namespace="default",pod="web",pod_uid="` + string(testUID) + `",probe_type="Readiness",result="successful"} 2
`
	if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want), "prober_probe_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("duration series = %d, want 2", n)
	}
	m.forget(pod.UID, pod.Namespace, pod.Name)
	if n := testutil.CollectAndCount(m.total) + testutil.CollectAndCount(m.duration); n != 0 {
		t.Errorf("%d series left after the pod is gone", n)
	}
}
