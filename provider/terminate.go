package provider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// stopAll stops the pod's containers: app containers and regular init
// containers together, then sidecars in reverse order, all within grace.
func (w *worker) stopAll(ctx context.Context, pod *corev1.Pod, grace time.Duration) {
	deadline := time.Now().Add(grace)
	var first, sidecars []*tracked
	for _, c := range pod.Spec.InitContainers {
		if r := w.records[c.Name]; r != nil && r.running() {
			if r.kind == ctrd.KindSidecar {
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
	for _, c := range pod.Spec.EphemeralContainers {
		if r := w.records[c.Name]; r != nil && r.running() {
			first = append(first, r)
		}
	}
	w.stopGroup(ctx, pod, first, time.Until(deadline))
	for _, r := range sidecars {
		w.stopGroup(ctx, pod, []*tracked{r}, max(time.Until(deadline), 2*time.Second))
	}
}

// Stopping containers: signals go out a few at a time, and exits are seen by
// polling the pod's containers, not by one waiting call per container,
// which a shim serving a hundred containers does not survive.
const (
	signalWorkers = 8 // also bounds parallel removals
	stopPoll      = 100 * time.Millisecond
	killWait      = 10 * time.Second
)

// stopTarget is one attempt to stop: the container's name and its id.
type stopTarget struct{ name, id string }

// stopGroup stops the current attempts of rs within grace (stop).
func (w *worker) stopGroup(ctx context.Context, pod *corev1.Pod, rs []*tracked, grace time.Duration) {
	ts := make([]stopTarget, 0, len(rs))
	for _, r := range rs {
		ts = append(ts, stopTarget{name: r.name, id: r.current.ID})
	}
	w.stop(ctx, pod, ts, grace)
}

// stop runs the preStop hooks of ts, sends the stop signal, waits up to
// grace for them to exit, then kills what still runs. A deletion that
// shortens the grace period meanwhile cuts the hooks and the wait short.
func (w *worker) stop(ctx context.Context, pod *corev1.Pod, ts []stopTarget, grace time.Duration) {
	if len(ts) == 0 {
		return
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.id
		w.event(pod, corev1.EventTypeNormal, eventKilling, "Stopping container %s", t.name)
	}
	cut, release := w.cutShort(ctx, grace)
	defer release()
	if grace > 0 {
		grace = w.preStop(cut, pod, ts, grace)
	}
	if cut.Err() != nil {
		grace = w.deletionGrace(grace)
	}
	sig := syscall.Signal(0) // the image's stop signal
	if grace <= 0 {
		sig = syscall.SIGKILL
	}
	w.signalAll(ctx, ids, sig)
	if left := w.waitExited(cut, ids, grace); len(left) > 0 && sig != syscall.SIGKILL {
		w.signalAll(ctx, left, syscall.SIGKILL)
		w.waitExited(ctx, left, killWait)
	}
}

func (w *worker) signalAll(ctx context.Context, ids []string, sig syscall.Signal) {
	forEach(ids, func(id string) {
		if err := w.p.cfg.Runtime.SignalContainer(ctx, id, sig); err != nil {
			log.G(ctx).WithError(err).WithField("container", id).Warn("stop container")
		}
	})
}

// forEach calls fn for each id, a few at a time.
func forEach(ids []string, fn func(id string)) {
	work := make(chan string)
	var wg sync.WaitGroup
	for i := 0; i < min(signalWorkers, len(ids)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				fn(id)
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
}

// waitExited polls until none of ids runs or timeout passes, and returns
// those still running.
func (w *worker) waitExited(ctx context.Context, ids []string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		cs, err := w.p.cfg.Runtime.ListContainers(ctx, ctrd.PodFilter(string(w.uid)))
		running := map[string]bool{}
		if err == nil {
			for _, c := range cs {
				running[c.ID] = c.State == ctrd.StateRunning || c.State == ctrd.StateUnknown
			}
		}
		var left []string
		for _, id := range ids {
			if err != nil || running[id] {
				left = append(left, id)
			}
		}
		if len(left) == 0 || !time.Now().Before(deadline) {
			return left
		}
		select {
		case <-ctx.Done():
			return left
		case <-time.After(stopPoll):
		}
	}
}

// syncTerminating is the work of stateTerminating: stop every container
// within the grace period, report the final statuses, release containers,
// volumes and the sandbox, and, for a graceful deletion, remove the pod
// object. On success the pod is gone; on error the next pass tries again
// (every step is idempotent).
func (w *worker) syncTerminating(ctx context.Context, pod *corev1.Pod, del deletion) error {
	w.stopAll(ctx, pod, del.grace)
	if err := w.observe(ctx); err != nil {
		return err
	}
	w.readMessages(pod)
	status := w.buildStatus(pod, w.p.clock.Now())
	var ids []string
	for _, r := range w.records {
		for _, c := range []string{idOf(r.previous), idOf(r.current)} {
			if c != "" {
				ids = append(ids, c)
			}
		}
	}
	var (
		mu   sync.Mutex // guards errs
		errs []error
	)
	forEach(ids, func(id string) {
		if err := w.p.cfg.Runtime.RemoveContainer(ctx, id); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("remove container %s: %w", id, err))
			mu.Unlock()
		}
	})
	if err := w.p.volumes.Cleanup(string(w.uid)); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, w.removeImageViews(ctx, pod)...)
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
	if del.inAPI {
		w.finishDeletion(ctx, pod)
	}
	w.mustMove(ctx, stateGone)
	return nil
}

// finishDeletion removes the pod object once everything of it is gone from
// the node, as the kubelet does at the end of a graceful deletion: the API
// server keeps the object until then.
func (w *worker) finishDeletion(ctx context.Context, pod *corev1.Pod) {
	zero := int64(0)
	uid := pod.UID
	if w.p.cfg.Client == nil {
		return
	}
	err := w.p.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.G(ctx).WithError(err).Warn("cannot remove the terminated pod from the API server")
	}
}
