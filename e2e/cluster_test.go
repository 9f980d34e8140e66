//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestClusterNetworkFromPods: across the nodes of a cluster, every pair of
// them, a pod on one reaches a pod on the other by its IP, through a
// ClusterIP Service, and by the Service's names in the cluster's DNS. The
// nodes are the node under test and VKC_E2E_PEER_NODE (comma separated):
// kind's control plane (make e2e-kind), or vk-node-2 and vk-node-3 of
// make up NODES=3, each in a network namespace of its own (make e2e-nodes).
func TestClusterNetworkFromPods(t *testing.T) {
	peers := os.Getenv("VKC_E2E_PEER_NODE")
	if peers == "" {
		t.Skip("VKC_E2E_PEER_NODE is not set: no other node in this cluster (make e2e-kind and make e2e-nodes set it)")
	}
	nodes := append([]string{nodeName}, strings.Split(peers, ",")...)
	ns := testNamespace(t)
	for i, node := range nodes {
		server := podSpec(fmt.Sprintf("server-%d", i), httpServer)
		server.Spec.NodeName = node
		server.Labels = map[string]string{"app": server.Name}
		server.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		createPod(t, ns, server)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i)},
			Spec: corev1.ServiceSpec{
				Selector: server.Labels,
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		if _, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var steps []probeStep
	for i, node := range nodes {
		s := waitPod(t, ns, fmt.Sprintf("server-%d", i), 90*time.Second, "Running and Ready on "+node, isRunningReady)
		hello := fmt.Sprintf(" | grep -q 'hello from server-%d'", i)
		svc := fmt.Sprintf("web-%d", i)
		steps = append(steps,
			probeStep{"wget -qO- http://" + s.Status.PodIP + ":8080/" + hello, "the server on " + node + " by its pod IP"},
			probeStep{"wget -qO- http://" + svc + "/" + hello, "the Service of the server on " + node + " by its short name"},
			probeStep{"wget -qO- http://" + svc + "." + ns + ".svc.cluster.local./" + hello, "the Service of the server on " + node + " by its full name"})
	}
	// The Service's rules and the DNS record follow the server's readiness by a moment.
	for i, node := range nodes {
		runClient(t, ns, fmt.Sprintf("client-%d", i), node, steps)
	}
}

// TestServicesAndDNSFromPods: from a pod on the node, a server pod on the
// same node answers through a ClusterIP Service (by address, short name and
// full name), through a NodePort on the node's address, and through its own
// Service (hairpin); a headless Service's name and the server's
// hostname.subdomain resolve to the server's pod IP; the cluster DNS Service
// answers for kubernetes.default. It needs the cluster's kube-proxy and DNS
// on the node: the local cluster runs both as pods of vk-node.
func TestServicesAndDNSFromPods(t *testing.T) {
	ns := testNamespace(t)
	server := podSpec("server", httpServer)
	server.Labels = map[string]string{"app": "server"}
	server.Spec.Hostname, server.Spec.Subdomain = "web-0", "web-hl"
	createPod(t, ns, server)
	port := []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}
	services := map[string]*corev1.Service{}
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Ports: port}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-np"}, Spec: corev1.ServiceSpec{Ports: port, Type: corev1.ServiceTypeNodePort}},
		{ObjectMeta: metav1.ObjectMeta{Name: "web-hl"}, Spec: corev1.ServiceSpec{Ports: port, ClusterIP: corev1.ClusterIPNone}},
	} {
		svc.Spec.Selector = server.Labels
		out, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		services[svc.Name] = out
	}
	s := waitPod(t, ns, "server", 90*time.Second, "Running and Ready", isRunningReady)
	hello := " | grep -q 'hello from web-0'" // the server answers with its hostname
	full := func(name string) string { return name + "." + ns + ".svc.cluster.local." }
	resolves := func(name, ip string) string { return "nslookup " + name + " | grep -q 'Address:[^0-9]*" + ip + "$'" }
	runClient(t, ns, "client", nodeName, []probeStep{
		{"wget -qO- http://" + services["web"].Spec.ClusterIP + "/" + hello, "the ClusterIP Service by its address"},
		{"wget -qO- http://web/" + hello, "the ClusterIP Service by its short name"},
		{"wget -qO- http://" + full("web") + "/" + hello, "the ClusterIP Service by its full name"},
		{fmt.Sprintf("wget -qO- http://%s:%d/%s", nodeIP(t), services["web-np"].Spec.Ports[0].NodePort, hello), "the NodePort Service on the node's address"},
		{resolves(full("web-hl"), s.Status.PodIP), "the headless Service's name to the server's IP"},
		{resolves(full("web-0.web-hl"), s.Status.PodIP), "the server's hostname.subdomain to its IP"},
		{resolves("kubernetes.default.svc.cluster.local.", "10.96.0.1"), "kubernetes.default to the API server's Service"},
	})
	// Hairpin: the server reaches itself through its own Service.
	eventually(t, 15*time.Second, "the server reaches itself through its Service", func(context.Context) (bool, error) {
		out, errOut, code := kubectl(t, "", "-n", ns, "exec", "server", "--", "/httpserver", "get", "http://web/")
		return code == 0 && strings.Contains(out, "hello from web-0"), fmt.Errorf("exit %d: %s%s", code, out, errOut)
	})
}

// probeStep is one shell check a client pod runs, and what it shows.
type probeStep struct{ check, what string }

// retryScript runs each step up to five times a second apart and stops at
// the first that never passes, naming it.
func retryScript(steps ...probeStep) string {
	script := ""
	for _, s := range steps {
		script += fmt.Sprintf("ok=0; for i in 1 2 3 4 5; do if timeout 3 sh -c %q; then ok=1; break; fi; sleep 1; done; [ $ok = 1 ] || { echo %q; exit 1; }; ",
			s.check, "failed: "+s.what)
	}
	return script
}

// runClient runs the steps in pod name on node and fails the test with the
// pod's log unless every step passes.
func runClient(t *testing.T, ns, name, node string, steps []probeStep) {
	t.Helper()
	c := podSpec(name, busybox, "sh", "-c", retryScript(steps...))
	c.Spec.NodeName = node
	c.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	c.Spec.RestartPolicy = corev1.RestartPolicyNever
	createPod(t, ns, c)
	p := waitPod(t, ns, name, 2*time.Minute, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the client on %s: %s", node, podLog(t, ns, name))
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
