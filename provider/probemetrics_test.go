package provider

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
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

func TestRunningCollector(t *testing.T) {
	n := newNode(t)
	pod := appPod(corev1.RestartPolicyNever, nil, "app", "done")
	w := n.worker(n.pods, pod)
	n.running(w, pod)
	n.rt.exit(t, "done", 0)
	n.settle(w)
	want := `
# HELP kubelet_running_containers Number of containers currently running, exited or created.
# TYPE kubelet_running_containers gauge
kubelet_running_containers{container_state="created"} 0
kubelet_running_containers{container_state="exited"} 1
kubelet_running_containers{container_state="running"} 1
# HELP kubelet_running_pods Number of pods that have a running pod sandbox.
# TYPE kubelet_running_pods gauge
kubelet_running_pods 1
`
	if err := testutil.CollectAndCompare(n.pods.RunningCollector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
