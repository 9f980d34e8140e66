package provider

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/probe"
)

// minStopGrace is what a container keeps of its grace period to stop after
// its preStop hook, as on the kubelet.
const minStopGrace = 2 * time.Second

// postStart runs container c's postStart hook, if any, on attempt id. The
// container counts as started only once it returns; on failure the caller
// stops the attempt.
func (w *worker) postStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string) error {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return nil
	}
	err := probe.Run(ctx, c.Lifecycle.PostStart, w.probeTarget(pod, c, id))
	if err != nil {
		w.event(pod, corev1.EventTypeWarning, eventFailedPostStartHook, "PostStartHook failed: %v", err)
	}
	return err
}

// preStop runs the preStop hooks of ts at once, bounded by grace, and
// returns the grace left for the stop signal.
func (w *worker) preStop(ctx context.Context, pod *corev1.Pod, ts []stopTarget, grace time.Duration) time.Duration {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	var wg sync.WaitGroup
	ran := false
	for _, t := range ts {
		c := specOf(pod, t.name)
		if c == nil || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			continue
		}
		ran = true
		wg.Add(1)
		go func(c *corev1.Container, id string) {
			defer wg.Done()
			if err := probe.Run(ctx, c.Lifecycle.PreStop, w.probeTarget(pod, c, id)); err != nil {
				w.event(pod, corev1.EventTypeWarning, eventFailedPreStopHook, "PreStopHook failed: %v", err)
			}
		}(c, t.id)
	}
	wg.Wait()
	if !ran {
		return grace
	}
	return max(grace-time.Since(start), minStopGrace)
}

// specOf finds a container of the pod, app, init or ephemeral, by name.
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return ephemeral(&pod.Spec.EphemeralContainers[i])
		}
	}
	return nil
}
