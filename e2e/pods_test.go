//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodRunsWithKubeletStatus(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("sleeper", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	p := waitPod(t, ns, "sleeper", 60*time.Second, "Running and Ready", isRunningReady)

	if p.Status.PodIP == "" || len(p.Status.PodIPs) == 0 || p.Status.HostIP == "" {
		t.Errorf("podIP %q podIPs %v hostIP %q: want all set", p.Status.PodIP, p.Status.PodIPs, p.Status.HostIP)
	}
	if p.Status.StartTime == nil {
		t.Error("startTime not set")
	}
	// A node given pod CIDRs by the cluster addresses its pods from them.
	if n := getNode(context.Background(), t); len(n.Spec.PodCIDRs) > 0 {
		for _, ip := range p.Status.PodIPs {
			if !inCIDRs(ip.IP, n.Spec.PodCIDRs) {
				t.Errorf("pod IP %s is outside the node's podCIDRs %v", ip.IP, n.Spec.PodCIDRs)
			}
		}
	}
	cs := containerStatus(p, "main")
	if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started {
		t.Errorf("container status %+v: want running, ready, started, containerd:// id", cs)
	}
	if !strings.Contains(cs.ImageID, "@sha256:") {
		t.Errorf("imageID = %q, want a digest", cs.ImageID)
	}
	want := map[corev1.PodConditionType]bool{corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true, corev1.ContainersReady: true, corev1.PodReady: true, corev1.PodScheduled: true}
	for _, c := range p.Status.Conditions {
		if want[c.Type] && c.Status == corev1.ConditionTrue {
			delete(want, c.Type)
		}
	}
	if len(want) > 0 {
		t.Errorf("conditions not True: %v (have %v)", want, p.Status.Conditions)
	}
	var events []string
	list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=sleeper"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		events = append(events, e.Reason)
	}
	for _, r := range []string{"Created", "Started"} {
		if !strings.Contains(strings.Join(events, ","), r) {
			t.Errorf("no %s event among %v", r, events)
		}
	}
}

// inCIDRs tells whether ip lies in one of cidrs.
func inCIDRs(ip string, cidrs []string) bool {
	addr := net.ParseIP(ip)
	for _, c := range cidrs {
		if _, n, err := net.ParseCIDR(c); err == nil && addr != nil && n.Contains(addr) {
			return true
		}
	}
	return false
}

func TestPodHostnameAndSharedNetwork(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("pair", httpServer, "/httpserver", "serve", "8080")
	// The second container reaches the first over localhost and checks the
	// pod's hostname, then exits 0 only if both hold.
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Containers[0].Command = []string{"/httpserver", "serve", "8080"}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: "probe", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"sh", "-c", `for i in 1 2 3 4 5 6 7 8 9 10; do timeout 3 wget -qO- http://127.0.0.1:8080/ | grep -q 'hello from pair' && [ "$(hostname)" = pair ] && exit 0; sleep 1; done; exit 1`},
	})
	createPod(t, ns, pod)
	p := waitPod(t, ns, "pair", 60*time.Second, "probe container finished", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "probe")
		return cs.State.Terminated != nil
	})
	if cs := containerStatus(p, "probe"); cs.State.Terminated.ExitCode != 0 {
		t.Fatalf("probe container exited %d: localhost or hostname not shared", cs.State.Terminated.ExitCode)
	}
}

func TestTrafficBetweenPodsAndFromHost(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("server", httpServer))
	server := waitPod(t, ns, "server", 60*time.Second, "Running", isRunningReady)
	url := fmt.Sprintf("http://%s:8080/", server.Status.PodIP)

	client := podSpec("client", busybox, "sh", "-c", "for i in 1 2 3 4 5; do timeout 3 wget -qO- "+url+" && exit 0; sleep 1; done; exit 1")
	client.Spec.RestartPolicy = corev1.RestartPolicyNever
	createPod(t, ns, client)
	waitPod(t, ns, "client", 60*time.Second, "Succeeded (reached the server pod)", phaseIs(corev1.PodSucceeded))

	// The node reaches its pods over the CNI bridge; this test runs on the node.
	requireNode(t, "not on the node: host-to-pod traffic not checked")
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s from the host: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "hello from server") {
		t.Fatalf("GET %s from the host: %q", url, body)
	}
}

func TestHostPort(t *testing.T) {
	requireNode(t, "not on the node: hostPort is checked through the node's address")
	ns := testNamespace(t)
	pod := podSpec("hostport", httpServer)
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 18080, Protocol: corev1.ProtocolTCP}}
	createPod(t, ns, pod)
	p := waitPod(t, ns, "hostport", 60*time.Second, "Running", isRunningReady)
	url := fmt.Sprintf("http://%s:18080/", p.Status.HostIP)
	hc := &http.Client{Timeout: 3 * time.Second}
	var lastErr error
	for i := 0; i < 10; i++ {
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), "hello from hostport") {
				return
			}
			lastErr = fmt.Errorf("body %q", body)
		} else {
			lastErr = err
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
}

func TestInitContainersRunInOrder(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("inits", busybox, "sh", "-c", `[ "$(cat /work/order)" = "$(printf 'one\ntwo')" ]`)
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mount := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	pod.Spec.Containers[0].VolumeMounts = mount
	for _, n := range []string{"one", "two"} {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: n, Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent, VolumeMounts: mount,
			Command: []string{"sh", "-c", "sleep 1; echo " + n + " >> /work/order"},
		})
	}
	createPod(t, ns, pod)
	p := waitPod(t, ns, "inits", 60*time.Second, "Succeeded", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: init containers did not run in order (%s)", p.Status.Phase, describeContainers(p))
	}
	for _, n := range []string{"one", "two"} {
		if cs := containerStatus(p, n); cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
			t.Errorf("init container %s: %+v, want terminated Completed", n, cs.State)
		}
	}
}

func TestRestartPolicies(t *testing.T) {
	ns := testNamespace(t)
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		exitCode int
		phase    corev1.PodPhase
	}{
		{"never-fails", corev1.RestartPolicyNever, 3, corev1.PodFailed},
		{"never-succeeds", corev1.RestartPolicyNever, 0, corev1.PodSucceeded},
		{"onfailure-succeeds", corev1.RestartPolicyOnFailure, 0, corev1.PodSucceeded},
	} {
		pod := podSpec(tc.name, busybox, "sh", "-c", fmt.Sprintf("exit %d", tc.exitCode))
		pod.Spec.RestartPolicy = tc.policy
		createPod(t, ns, pod)
		p := waitPod(t, ns, tc.name, 60*time.Second, string(tc.phase), phaseIs(tc.phase))
		cs := containerStatus(p, "main")
		if cs.State.Terminated == nil || int(cs.State.Terminated.ExitCode) != tc.exitCode || cs.RestartCount != 0 {
			t.Errorf("%s: container %+v restarts %d, want terminated with %d and no restart", tc.name, cs.State, cs.RestartCount, tc.exitCode)
		}
	}

	// OnFailure and Always restart a failing container with back-off and keep
	// the last termination.
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyAlways} {
		name := "crash-" + strings.ToLower(string(policy))
		pod := podSpec(name, busybox, "sh", "-c", "exit 2")
		pod.Spec.RestartPolicy = policy
		createPod(t, ns, pod)
		p := waitPod(t, ns, name, 60*time.Second, "CrashLoopBackOff after a restart", func(p *corev1.Pod) bool {
			cs := containerStatus(p, "main")
			return cs.RestartCount >= 1 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
		})
		cs := containerStatus(p, "main")
		if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 {
			t.Errorf("%s: lastState %+v, want terminated with exit code 2", name, cs.LastTerminationState)
		}
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("%s: phase %s, want Running while restarting", name, p.Status.Phase)
		}
	}
}

func TestImageChangeReplacesContainer(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("upgrade", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	before := containerStatus(waitPod(t, ns, "upgrade", 60*time.Second, "Running", isRunningReady), "main")
	newImage := envOr("VKC_E2E_BUSYBOX_B", "127.0.0.1:5000/busybox:1.35-b")
	p, err := client.CoreV1().Pods(ns).Get(context.Background(), "upgrade", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Containers[0].Image = newImage
	if _, err := client.CoreV1().Pods(ns).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	after := containerStatus(waitPod(t, ns, "upgrade", 60*time.Second, "running the new image", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs.Image == newImage && cs.State.Running != nil && cs.ContainerID != before.ContainerID
	}), "main")
	if after.RestartCount != before.RestartCount+1 {
		t.Errorf("restartCount %d after the image change, want %d", after.RestartCount, before.RestartCount+1)
	}
}
