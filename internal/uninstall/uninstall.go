// Package uninstall takes the nodes of an installation out of the cluster
// in the order that leaves their hosts clean: first every pod on them goes
// (their agents tear each one down on the host), then the agents stop, each
// removing its own files on the way out, and last the node objects go. The
// chart runs it as a pre-delete hook; an agent has no right to delete its
// node object (Node authorization lets a node create and update itself only).
package uninstall

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// TaintKey marks a node that is being removed. Its NoExecute effect makes
// the cluster evict what does not tolerate it, and an agent that stops while
// its node carries it removes its own files.
const TaintKey = "vk-containerd.io/removing"

// Marked says whether n is being removed.
func Marked(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == TaintKey {
			return true
		}
	}
	return false
}

// Plan names what to remove.
type Plan struct {
	NodeSelector string // labels of the installation's nodes
	// DaemonSet runs the agents: namespace and name.
	Namespace, DaemonSet string
	// Timeout bounds each wait; pods still there after it are deleted
	// without grace, and the host may keep what their agent could not undo.
	Timeout time.Duration
	Out     io.Writer // progress, one line a step
}

// Run removes the pods, agents and nodes of p.
func Run(ctx context.Context, client kubernetes.Interface, p Plan) error {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: p.NodeSelector})
	if err != nil {
		return fmt.Errorf("list the nodes %s: %w", p.NodeSelector, err)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if err := mark(ctx, client, n.Name); err != nil {
			return err
		}
		if err := drain(ctx, client, n.Name, p); err != nil {
			return err
		}
	}
	if err := stopAgents(ctx, client, p); err != nil {
		return err
	}
	for _, n := range nodes.Items {
		err := client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete node %s: %w", n.Name, err)
		}
		fmt.Fprintf(p.Out, "node %s deleted\n", n.Name)
	}
	return nil
}

// mark cordons the node and taints it, so that nothing new lands on it and
// controllers' replacements go elsewhere.
func mark(ctx context.Context, client kubernetes.Interface, name string) error {
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	if Marked(n) {
		return nil
	}
	n.Spec.Unschedulable = true
	now := metav1.Now()
	n.Spec.Taints = append(n.Spec.Taints,
		corev1.Taint{Key: TaintKey, Effect: corev1.TaintEffectNoSchedule},
		corev1.Taint{Key: TaintKey, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now})
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mark node %s for removal: %w", name, err)
	}
	return nil
}

// drain deletes every pod bound to the node and waits until they are gone:
// a pod object goes once its agent has torn it down on the host.
func drain(ctx context.Context, client kubernetes.Interface, node string, p Plan) error {
	onNode := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()}
	list := func() ([]corev1.Pod, error) {
		l, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, onNode)
		if err != nil {
			return nil, fmt.Errorf("pods on %s: %w", node, err)
		}
		// The field selector is the server's filter; this one guards against
		// a server (or a fake) that ignores it: no other node's pod is touched.
		var on []corev1.Pod
		for _, p := range l.Items {
			if p.Spec.NodeName == node {
				on = append(on, p)
			}
		}
		return on, nil
	}
	pods, err := list()
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if err := deletePod(ctx, client, pod, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(p.Out, "node %s: %d pods deleted, waiting for the agent to tear them down\n", node, len(pods))
	var left []corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, time.Second, p.Timeout, true, func(context.Context) (bool, error) {
		left, err = list()
		return err == nil && len(left) == 0, err
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The agent did not finish them: the objects go anyway, what they held
	// on the host may stay.
	zero := int64(0)
	for _, pod := range left {
		if err := deletePod(ctx, client, pod, &zero); err != nil {
			return err
		}
	}
	fmt.Fprintf(p.Out, "node %s: %d pods were not torn down within %s; deleted without grace, their host may keep leftovers\n", node, len(left), p.Timeout)
	return nil
}

func deletePod(ctx context.Context, client kubernetes.Interface, pod corev1.Pod, grace *int64) error {
	err := client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: grace})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// stopAgents deletes the agents' DaemonSet and waits until its pods are
// gone, so that the agents stop while their nodes still exist.
func stopAgents(ctx context.Context, client kubernetes.Interface, p Plan) error {
	ds, err := client.AppsV1().DaemonSets(p.Namespace).Get(ctx, p.DaemonSet, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("daemonset %s/%s: %w", p.Namespace, p.DaemonSet, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return fmt.Errorf("daemonset %s/%s: %w", p.Namespace, p.DaemonSet, err)
	}
	foreground := metav1.DeletePropagationForeground
	err = client.AppsV1().DaemonSets(p.Namespace).Delete(ctx, p.DaemonSet, metav1.DeleteOptions{PropagationPolicy: &foreground})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete daemonset %s/%s: %w", p.Namespace, p.DaemonSet, err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, p.Timeout, true, func(ctx context.Context) (bool, error) {
		return agentsGone(ctx, client, p.Namespace, selector)
	})
	if err != nil {
		return fmt.Errorf("the agents of daemonset %s/%s did not stop within %s: %w", p.Namespace, p.DaemonSet, p.Timeout, err)
	}
	fmt.Fprintf(p.Out, "daemonset %s/%s: agents stopped\n", p.Namespace, p.DaemonSet)
	return nil
}

func agentsGone(ctx context.Context, client kubernetes.Interface, ns string, selector labels.Selector) (bool, error) {
	l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return false, err
	}
	return len(l.Items) == 0, nil
}
