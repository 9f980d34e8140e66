// Package nodecidr finds the pod CIDRs the cluster gave a node: the
// controller-manager (--allocate-node-cidrs) writes them into spec.podCIDRs
// once the node object exists, so an agent that builds its pod network from
// them registers its node first and waits.
package nodecidr

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// pollInterval is how often the node is read while its CIDRs are awaited.
const pollInterval = 250 * time.Millisecond

// Wait returns node's pod CIDRs, creating node as given when the API server
// has no such node, and waiting up to timeout for the CIDRs to be written.
func Wait(ctx context.Context, nodes corev1client.NodeInterface, node *corev1.Node, timeout time.Duration) ([]*net.IPNet, error) {
	if _, err := nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("register node %s: %w", node.Name, err)
	}
	var cidrs []string
	var readErr error
	err := wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		n, err := nodes.Get(ctx, node.Name, metav1.GetOptions{})
		if readErr = err; err != nil {
			return false, nil // read again: the API server may be passing trouble
		}
		cidrs = Of(n)
		return len(cidrs) > 0, nil
	})
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case readErr != nil:
		return nil, fmt.Errorf("read node %s: %w", node.Name, readErr)
	case err != nil:
		return nil, fmt.Errorf("node %s has no spec.podCIDRs after %s: the cluster allocates none "+
			"(kube-controller-manager runs without --allocate-node-cidrs) or is slow to; give the agent --pod-cidr instead", node.Name, timeout)
	}
	return Parse(cidrs)
}

// Of returns n's pod CIDRs: spec.podCIDRs, or the older single-family
// spec.podCIDR where only that is set.
func Of(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

// Parse parses CIDRs as a node's spec.podCIDRs or the agent's --pod-cidr holds them.
func Parse(cidrs []string) ([]*net.IPNet, error) {
	out := make([]*net.IPNet, 0, len(cidrs))
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("pod CIDR %q: %w", c, err)
		}
		out = append(out, n)
	}
	return out, nil
}
