package uninstall

import (
	"context"
	"io"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestRunRemovesPodsThenAgentsThenNodes(t *testing.T) {
	release := map[string]string{"vk-containerd.io/release": "r"}
	objs := []runtime.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "h1-vk", Labels: release}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "h1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "x"}, Spec: corev1.PodSpec{NodeName: "h1-vk"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "x"}, Spec: corev1.PodSpec{NodeName: "h1"}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "vk"},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "vk"}}}},
	}
	client := fake.NewClientset(objs...)
	err := Run(context.Background(), client, Plan{NodeSelector: "vk-containerd.io/release=r", Namespace: "vk", DaemonSet: "agent",
		Timeout: 5 * time.Second, Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.DeleteAction:
			order = append(order, a.GetResource().Resource+"/"+a.GetName())
		case k8stesting.UpdateAction:
			if n, ok := a.GetObject().(*corev1.Node); ok {
				if !Marked(n) || !n.Spec.Unschedulable {
					t.Errorf("node %s updated without the removal taint or cordon", n.Name)
				}
				order = append(order, "mark/"+n.Name)
			}
		}
	}
	want := []string{"mark/h1-vk", "pods/a", "daemonsets/agent", "nodes/h1-vk"}
	if len(order) != len(want) {
		t.Fatalf("actions %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("actions %v, want %v", order, want)
		}
	}
	if _, err := client.CoreV1().Pods("x").Get(context.Background(), "b", metav1.GetOptions{}); err != nil {
		t.Errorf("a pod of another node was touched: %v", err)
	}
}

func TestMarked(t *testing.T) {
	n := &corev1.Node{}
	if Marked(n) {
		t.Error("an unmarked node is marked")
	}
	n.Spec.Taints = []corev1.Taint{{Key: TaintKey, Effect: corev1.TaintEffectNoExecute}}
	if !Marked(n) {
		t.Error("a marked node is not")
	}
}
