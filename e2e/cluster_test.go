//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestClusterNetworkFromPods: a pod on the node reaches a pod on another node
// (VKC_E2E_PEER_NODE, a kubelet's) by its IP, through a ClusterIP Service, and
// by the Service's names in the cluster's DNS. It needs a cluster with those
// parts (kind's: kube-proxy, CoreDNS, a network that routes every node's
// podCIDR); the local cluster has one node and neither yet.
func TestClusterNetworkFromPods(t *testing.T) {
	peer := os.Getenv("VKC_E2E_PEER_NODE")
	if peer == "" {
		t.Skip("VKC_E2E_PEER_NODE is not set: no other node, Services or DNS in this cluster (make e2e-kind sets it)")
	}
	ns := testNamespace(t)
	server := podSpec("server", httpServer)
	server.Spec.NodeName = peer
	server.Labels = map[string]string{"app": "server"}
	server.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	createPod(t, ns, server)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "server"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := waitPod(t, ns, "server", 90*time.Second, "Running and Ready on "+peer, isRunningReady)

	// Each target five times a second apart: the Service's rules and the DNS
	// record follow the server's readiness by a moment.
	script := ""
	for _, url := range []string{
		fmt.Sprintf("http://%s:8080/", s.Status.PodIP),
		"http://web/",
		fmt.Sprintf("http://web.%s.svc.cluster.local/", ns),
	} {
		script += fmt.Sprintf("ok=0; for i in 1 2 3 4 5; do if timeout 3 wget -qO- %s | grep -q 'hello from server'; then ok=1; break; fi; sleep 1; done; [ $ok = 1 ] || { echo 'no answer from %s'; exit 1; }; ", url, url)
	}
	c := podSpec("client", busybox, "sh", "-c", script)
	c.Spec.RestartPolicy = corev1.RestartPolicyNever
	createPod(t, ns, c)
	p := waitPod(t, ns, "client", 90*time.Second, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the client on %s did not reach the server on %s: %s", nodeName, peer, podLog(t, ns, "client"))
	}
}

// podLog is the pod's log as the API serves it, or why it cannot be read.
func podLog(t *testing.T, ns, name string) string {
	t.Helper()
	raw, err := client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(context.Background())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(raw)
}
