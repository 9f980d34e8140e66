package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stopAll stops the pod's containers: app containers and regular init
// containers together, then sidecars in reverse order, all within grace.
func (w *worker) stopAll(ctx context.Context, pod *corev1.Pod, grace time.Duration) {
	deadline := time.Now().Add(grace)
	var first, sidecars []*tracked
	for _, c := range pod.Spec.InitContainers {
		if r := w.records[c.Name]; r != nil && r.running() {
			if r.kind == kindSidecar {
				sidecars = append([]*tracked{r}, sidecars...)
			} else {
				first = append(first, r)
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		if r := w.records[c.Name]; r != nil && r.running() {
			first = append(first, r)
		}
	}
	w.stopParallel(ctx, pod, first, time.Until(deadline))
	for _, r := range sidecars {
		w.stopParallel(ctx, pod, []*tracked{r}, max(time.Until(deadline), 2*time.Second))
	}
}

func (w *worker) stopParallel(ctx context.Context, pod *corev1.Pod, rs []*tracked, grace time.Duration) {
	if grace < 0 {
		grace = 0
	}
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func(r *tracked) {
			defer wg.Done()
			w.event(pod, corev1.EventTypeNormal, eventKilling, "Stopping container %s", r.name)
			if err := w.p.cfg.Runtime.StopContainer(ctx, r.current.ID, grace); err != nil {
				log.G(ctx).WithError(err).WithField("container", r.name).Warn("stop container")
			}
		}(r)
	}
	wg.Wait()
}

// terminate winds the pod down for deletion: stop every container within
// the grace period, report the final statuses, then release volumes,
// containers and the sandbox.
func (w *worker) terminate(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	w.stopAll(ctx, pod, grace)
	if err := w.observe(ctx); err != nil {
		return err
	}
	w.terminal = true
	status := w.buildStatus(pod, time.Now())
	var errs []error
	for _, r := range w.records {
		for _, c := range []string{idOf(r.previous), idOf(r.current)} {
			if c == "" {
				continue
			}
			if err := w.p.cfg.Runtime.RemoveContainer(ctx, c); err != nil {
				errs = append(errs, fmt.Errorf("remove container %s: %w", c, err))
			}
		}
	}
	if err := w.p.volumes.Cleanup(string(w.uid)); err != nil {
		errs = append(errs, err)
	}
	if err := w.p.cfg.Sandboxes.Remove(ctx, pod); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	w.mu.Lock()
	w.status = status
	w.mu.Unlock()
	out := pod.DeepCopy()
	out.Status = status
	w.p.publish(out)
	return nil
}

// finishDeletion removes the pod object once everything of it is gone from
// the node, as the kubelet does at the end of a graceful deletion: the API
// server keeps the object until then.
func (w *worker) finishDeletion(ctx context.Context, pod *corev1.Pod) {
	zero := int64(0)
	uid := pod.UID
	err := w.p.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.G(ctx).WithError(err).Warn("cannot remove the terminated pod from the API server")
	}
}
