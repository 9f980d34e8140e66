//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hasEvent reports whether the pod has an event of reason whose message
// contains text.
func hasEvent(ctx context.Context, ns, pod, reason, text string) (bool, error) {
	list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",reason=" + reason})
	if err != nil {
		return false, err
	}
	for _, e := range list.Items {
		if strings.Contains(e.Message, text) {
			return true, nil
		}
	}
	return false, nil
}

func TestProbes(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("probed", busybox, "sh", "-c", "mkdir /www; echo ok > /www/index.html; sleep 5; exec httpd -f -p 8080 -h /www")
	web := &pod.Spec.Containers[0]
	web.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	web.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1, FailureThreshold: 30}
	web.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
		PeriodSeconds: 1}
	pod.Spec.Containers = append(pod.Spec.Containers,
		corev1.Container{Name: "live", Image: busybox, Command: []string{"sh", "-c", "touch /tmp/healthy; sleep 5; rm /tmp/healthy; sleep 3600"},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
				PeriodSeconds: 1, FailureThreshold: 2}},
		corev1.Container{Name: "gate", Image: busybox, Command: []string{"sh", "-c", "sleep 3600"},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/ready"}}},
				PeriodSeconds: 1}},
	)
	createPod(t, ns, pod)

	// The server listens 5 s after it starts: until then it is neither
	// started nor ready (checked while that is still observable).
	p := waitPod(t, ns, "probed", 60*time.Second, "main running", func(p *corev1.Pod) bool {
		return containerStatus(p, "main").State.Running != nil
	})
	if cs := containerStatus(p, "main"); time.Since(cs.State.Running.StartedAt.Time) < 4*time.Second && (cs.Ready || *cs.Started) {
		t.Errorf("main ready=%v started=%v before it listens", cs.Ready, *cs.Started)
	}
	p = waitPod(t, ns, "probed", 60*time.Second, "main started and ready", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs.Ready && cs.Started != nil && *cs.Started
	})
	if cs := containerStatus(p, "gate"); cs.Ready {
		t.Error("gate is ready although its readiness probe fails")
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			t.Error("the pod is Ready although a container is not")
		}
	}
	// Readiness follows the probe.
	if _, errOut, code := kubectl(t, "", "-n", ns, "exec", "probed", "-c", "gate", "--", "touch", "/tmp/ready"); code != 0 {
		t.Fatalf("touch /tmp/ready: %s", errOut)
	}
	waitPod(t, ns, "probed", 30*time.Second, "the pod Ready", isRunningReady)

	// A failing liveness probe restarts the container.
	waitPod(t, ns, "probed", 60*time.Second, "live restarted", func(p *corev1.Pod) bool {
		return containerStatus(p, "live").RestartCount >= 1
	})
	eventually(t, 10*time.Second, "the liveness events", func(ctx context.Context) (bool, error) {
		unhealthy, err := hasEvent(ctx, ns, "probed", "Unhealthy", "Liveness probe failed")
		if err != nil || !unhealthy {
			return false, err
		}
		return hasEvent(ctx, ns, "probed", "Killing", "failed liveness probe, will be restarted")
	})
}

func TestLifecycleHooks(t *testing.T) {
	ns := testNamespace(t)
	// The target prints each request it gets. The answer waits a second so
	// that nc reads the whole request before its input ends.
	createPod(t, ns, podSpec("target", busybox, "sh", "-c", `while true; do (sleep 1; printf 'HTTP/1.0 200 OK\r\n\r\n') | nc -l -p 8080; done`))
	target := waitPod(t, ns, "target", 60*time.Second, "Running", isRunningReady)
	eventually(t, 30*time.Second, "the target listening", func(context.Context) (bool, error) {
		_, _, code := kubectl(t, "", "-n", ns, "exec", "target", "--", "sh", "-c", "netstat -ltn | grep -q ':8080 '")
		return code == 0, nil
	})
	get := func(path string) *corev1.LifecycleHandler {
		return &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Host: target.Status.PodIP, Port: intstr.FromInt32(8080), Path: path}}
	}
	hooked := podSpec("hooked", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
	hooked.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: get("/poststart"), PreStop: get("/prestop")}
	createPod(t, ns, hooked)
	waitPod(t, ns, "hooked", 60*time.Second, "Running", isRunningReady)
	targetGot := func(path string) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			out, _, _ := kubectl(t, "", "-n", ns, "logs", "target")
			return strings.Contains(out, "GET "+path+" "), nil
		}
	}
	eventually(t, 30*time.Second, "the postStart request", targetGot("/poststart"))
	deletePodAndWait(t, ns, "hooked", nil, 60*time.Second)
	eventually(t, 30*time.Second, "the preStop request", targetGot("/prestop"))

	// A failing postStart hook stops the container, which is restarted.
	failing := podSpec("failing-hook", busybox, "sh", "-c", "sleep 3600")
	failing.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 7"}}}}
	grace := int64(1)
	failing.Spec.TerminationGracePeriodSeconds = &grace
	createPod(t, ns, failing)
	waitPod(t, ns, "failing-hook", 60*time.Second, "restarted", func(p *corev1.Pod) bool {
		return containerStatus(p, "main").RestartCount >= 1
	})
	eventually(t, 10*time.Second, "the FailedPostStartHook event", func(ctx context.Context) (bool, error) {
		return hasEvent(ctx, ns, "failing-hook", "FailedPostStartHook", "exited with 7")
	})
}
