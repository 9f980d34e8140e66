package nodecidr

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testNode() *corev1.Node {
	n := &corev1.Node{}
	n.Name = "vk-node"
	n.Labels = map[string]string{"type": "virtual-kubelet"}
	return n
}

// A node that is not there is registered, and its CIDRs are returned once
// the controller-manager writes them.
func TestWaitRegistersAndWaits(t *testing.T) {
	client := fake.NewClientset()
	nodes := client.CoreV1().Nodes()
	go func() {
		for {
			n, err := nodes.Get(context.Background(), "vk-node", metav1.GetOptions{})
			if err == nil {
				n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.1.0/24", []string{"10.244.1.0/24", "fd00:1::/64"}
				if _, err := nodes.Update(context.Background(), n, metav1.UpdateOptions{}); err == nil {
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	got, err := Wait(context.Background(), nodes, testNode(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].String() != "10.244.1.0/24" || got[1].String() != "fd00:1::/64" {
		t.Errorf("CIDRs %v", got)
	}
	n, _ := nodes.Get(context.Background(), "vk-node", metav1.GetOptions{})
	if n.Labels["type"] != "virtual-kubelet" {
		t.Errorf("registered node %+v, want the agent's object", n.ObjectMeta)
	}
}

// A registered node keeps its object; only the old single-family field
// set is read too.
func TestWaitExistingNode(t *testing.T) {
	old := testNode()
	old.Labels = map[string]string{"mine": "yes"}
	old.Spec.PodCIDR = "10.244.7.0/24"
	client := fake.NewClientset(old)
	got, err := Wait(context.Background(), client.CoreV1().Nodes(), testNode(), time.Second)
	if err != nil || len(got) != 1 || got[0].String() != "10.244.7.0/24" {
		t.Fatalf("CIDRs %v, %v", got, err)
	}
	n, _ := client.CoreV1().Nodes().Get(context.Background(), "vk-node", metav1.GetOptions{})
	if n.Labels["mine"] != "yes" {
		t.Errorf("existing node rewritten: %v", n.Labels)
	}
}

// A cluster that allocates no CIDRs gets the reason and the way out.
func TestWaitTimesOut(t *testing.T) {
	client := fake.NewClientset()
	_, err := Wait(context.Background(), client.CoreV1().Nodes(), testNode(), 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "--allocate-node-cidrs") || !strings.Contains(err.Error(), "--pod-cidr") {
		t.Errorf("%v, want the controller-manager's flag and --pod-cidr named", err)
	}
}

func TestParse(t *testing.T) {
	if _, err := Parse([]string{"10.0.0.0/33"}); err == nil || !strings.Contains(err.Error(), `"10.0.0.0/33"`) {
		t.Errorf("bad CIDR: %v", err)
	}
}
