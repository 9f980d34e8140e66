// Package provider is vk-containerd's virtual-kubelet provider: it keeps the
// node's status and realizes the pods bound to the node.
package provider

import (
	"context"
	"sync"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
)

// Pods is the pod side of the provider.
type Pods struct {
	mu   sync.Mutex // guards pods
	pods map[string]*corev1.Pod
}

var (
	_ node.PodLifecycleHandler = (*Pods)(nil)
	_ node.PodNotifier         = (*Pods)(nil)
)

// NewPods returns an empty pod provider.
func NewPods() *Pods { return &Pods{pods: map[string]*corev1.Pod{}} }

func key(namespace, name string) string { return namespace + "/" + name }

// CreatePod is not done yet: pods are refused with a clear error.
func (p *Pods) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	return errdefs.InvalidInput("running pods is not implemented in this build of vk-containerd")
}

// UpdatePod is not done yet.
func (p *Pods) UpdatePod(ctx context.Context, pod *corev1.Pod) error { return nil }

// DeletePod forgets the pod.
func (p *Pods) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pods[key(pod.Namespace, pod.Name)]; !ok {
		return errdefs.NotFoundf("pod %s/%s not found", pod.Namespace, pod.Name)
	}
	delete(p.pods, key(pod.Namespace, pod.Name))
	return nil
}

// GetPod returns the pod as it was given to CreatePod.
func (p *Pods) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pod, ok := p.pods[key(namespace, name)]
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s not found", namespace, name)
	}
	return pod.DeepCopy(), nil
}

// GetPodStatus returns the pod's status.
func (p *Pods) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods lists the pods the provider knows.
func (p *Pods) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(p.pods))
	for _, pod := range p.pods {
		out = append(out, pod.DeepCopy())
	}
	return out, nil
}

// NotifyPods registers the callback for pod status changes.
func (p *Pods) NotifyPods(ctx context.Context, cb func(*corev1.Pod)) {}
