//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTerminationStatus: the termination message file, the log fallback on
// error, and OOMKilled.
func TestTerminationStatus(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("ending", busybox, "sh", "-c", "echo -n 'all done' > /dev/termination-log")
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	pod.Spec.Containers = append(pod.Spec.Containers,
		corev1.Container{Name: "fallback", Image: busybox, Command: []string{"sh", "-c", "echo last-words; exit 3"},
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError},
		corev1.Container{Name: "custom-path", Image: busybox, Command: []string{"sh", "-c", "echo -n custom > /tmp/why"},
			TerminationMessagePath: "/tmp/why"},
		corev1.Container{Name: "greedy", Image: busybox, Command: []string{"sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("20Mi")}}},
	)
	createPod(t, ns, pod)
	p := waitPod(t, ns, "ending", 90*time.Second, "Failed", phaseIs(corev1.PodFailed))
	for name, want := range map[string]struct {
		reason  string
		code    int32
		message string
	}{
		"main":        {"Completed", 0, "all done"},
		"fallback":    {"Error", 3, "last-words\n"},
		"custom-path": {"Completed", 0, "custom"},
		"greedy":      {"OOMKilled", 137, ""},
	} {
		term := containerStatus(p, name).State.Terminated
		if term == nil || term.Reason != want.reason || term.ExitCode != want.code || term.Message != want.message {
			t.Errorf("%s: terminated %+v, want reason %s, exit %d, message %q", name, term, want.reason, want.code, want.message)
		}
	}
}

// TestServiceLinks: service variables of the namespace's services and of
// the API server's, unless enableServiceLinks is false.
func TestServiceLinks(t *testing.T) {
	ns := testNamespace(t)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "my-db"}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}}}
	svc, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP
	for _, c := range []struct {
		name  string
		links bool
	}{{"linked", true}, {"unlinked", false}} {
		pod := podSpec(c.name, busybox, "sh", "-c", "env | sort")
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		pod.Spec.EnableServiceLinks = &c.links
		createPod(t, ns, pod)
		waitPod(t, ns, c.name, 60*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
		out, _, _ := kubectl(t, "", "-n", ns, "logs", c.name)
		env := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				env[k] = v
			}
		}
		if env["KUBERNETES_SERVICE_HOST"] == "" || env["KUBERNETES_SERVICE_PORT"] == "" {
			t.Errorf("%s: no variables of the API server's service in %q", c.name, out)
		}
		linked := env["MY_DB_SERVICE_HOST"] == ip && env["MY_DB_SERVICE_PORT_PG"] == "5432" && env["MY_DB_PORT"] == "tcp://"+ip+":5432"
		if linked != c.links {
			t.Errorf("%s (enableServiceLinks %v): my-db variables present=%v in %q", c.name, c.links, linked, out)
		}
	}
}

// TestActiveDeadline: a pod that outlives activeDeadlineSeconds fails.
func TestActiveDeadline(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("deadline", busybox, "sleep", "3600")
	deadline := int64(3)
	pod.Spec.ActiveDeadlineSeconds = &deadline
	createPod(t, ns, pod)
	p := waitPod(t, ns, "deadline", 60*time.Second, "Failed", phaseIs(corev1.PodFailed))
	if p.Status.Reason != "DeadlineExceeded" {
		t.Errorf("reason %q, want DeadlineExceeded", p.Status.Reason)
	}
}

// TestSysctls: safe sysctls are set in the pod; others refuse the pod.
func TestSysctls(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("sysctl", busybox, "sh", "-c", "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_local_port_range")
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
		{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net.ipv4.ip_local_port_range", Value: "40000 50000"}}}
	createPod(t, ns, pod)
	waitPod(t, ns, "sysctl", 60*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
	if out, _, _ := kubectl(t, "", "-n", ns, "logs", "sysctl"); strings.Join(strings.Fields(out), " ") != "1 40000 50000" {
		t.Errorf("sysctls in the pod: %q", out)
	}
	unsafe := podSpec("unsafe", busybox, "true")
	unsafe.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "10000"}}}
	createPod(t, ns, unsafe)
	p := waitPod(t, ns, "unsafe", 60*time.Second, "Failed", phaseIs(corev1.PodFailed))
	if p.Status.Reason != "SysctlForbidden" || containerStatus(p, "main").State.Running != nil {
		t.Errorf("unsafe sysctl: reason %q, message %q", p.Status.Reason, p.Status.Message)
	}
}

// TestSeccomp: RuntimeDefault filters system calls (Seccomp mode 2); no
// profile leaves the container unconfined, as on the kubelet.
func TestSeccomp(t *testing.T) {
	ns := testNamespace(t)
	for name, profile := range map[string]*corev1.SeccompProfile{
		"filtered":   {Type: corev1.SeccompProfileTypeRuntimeDefault},
		"unconfined": nil,
	} {
		pod := podSpec(name, busybox, "grep", "^Seccomp:", "/proc/self/status")
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: profile}
		createPod(t, ns, pod)
		waitPod(t, ns, name, 60*time.Second, "Succeeded", phaseIs(corev1.PodSucceeded))
		out, _, _ := kubectl(t, "", "-n", ns, "logs", name)
		want := "0"
		if profile != nil {
			want = "2"
		}
		if f := strings.Fields(out); len(f) != 2 || f[1] != want {
			t.Errorf("%s: %q, want Seccomp: %s", name, out, want)
		}
	}
}
