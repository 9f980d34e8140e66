package provider

import (
	"context"
	"errors"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// syncRunning is the work of stateRunning: init containers in order, then
// the app and ephemeral containers, each restarted by the restart policy
// after its back-off. It moves to terminal when the pod is done for good.
func (w *worker) syncRunning(ctx context.Context, pod *corev1.Pod, now time.Time) pass {
	if pastDeadline(pod, w.startTime.Time, now) {
		return w.fail(ctx, pod, deadlineFailure, corev1.EventTypeNormal)
	}
	w.refreshVolumes(ctx, pod, now)
	changed := w.syncResize(ctx, pod, now)
	if w.syncInit(ctx, pod, now, &changed) {
		for i := range pod.Spec.Containers {
			changed = w.step(ctx, pod, &pod.Spec.Containers[i], ctrd.KindApp, now) || changed
		}
		for i := range pod.Spec.EphemeralContainers {
			changed = w.step(ctx, pod, ephemeral(&pod.Spec.EphemeralContainers[i]), ctrd.KindEphemeral, now) || changed
		}
	}
	if changed {
		return pass{changed: true}
	}
	w.syncProbers(ctx, pod)
	if phase := w.statusInput(pod).phase(); phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		return w.enterTerminal(ctx, pod)
	}
	return pass{wake: w.nextWake(pod, now)}
}

// refreshVolumes rewrites changed configMap, secret and projected volumes and
// renews tokens, on their own schedule.
func (w *worker) refreshVolumes(ctx context.Context, pod *corev1.Pod, now time.Time) {
	if now.Before(w.nextVolumeRefresh) {
		return
	}
	next, err := w.p.volumes.Refresh(ctx, pod)
	if err != nil {
		log.G(ctx).WithError(err).Warn("volume refresh failed")
	}
	w.nextVolumeRefresh = now.Add(volumeRefreshPeriod)
	if !next.IsZero() && next.Before(w.nextVolumeRefresh) {
		w.nextVolumeRefresh = next
	}
}

// syncInit runs the init containers in order and reports whether all
// regular ones succeeded and all sidecars started. It sets *changed when it
// changed a container.
func (w *worker) syncInit(ctx context.Context, pod *corev1.Pod, now time.Time, changed *bool) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		kind := kindOfInit(c)
		r := w.track(c.Name, kind)
		if kind == ctrd.KindSidecar {
			*changed = w.step(ctx, pod, c, kind, now) || *changed
			if r.current == nil || r.current.StartedAt.IsZero() {
				return false
			}
			continue
		}
		if exited, code := r.exited(); exited {
			if code == 0 {
				continue
			}
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return false // the pod failed: phase says so
			}
		}
		*changed = w.step(ctx, pod, c, kind, now) || *changed
		return false
	}
	return true
}

// kindOfInit tells a sidecar (a restartable init container) from a regular
// init container.
func kindOfInit(c *corev1.Container) string {
	if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
		return ctrd.KindSidecar
	}
	return ctrd.KindInit
}

// step moves one container toward running: start it if it never ran,
// restart it by policy after its back-off if it exited, stop it when a
// probe failed or its spec changed. It reports whether it changed the
// container in containerd.
func (w *worker) step(ctx context.Context, pod *corev1.Pod, c *corev1.Container, kind string, now time.Time) bool {
	r := w.track(c.Name, kind)
	exited, code := r.exited()
	switch {
	case r.running():
		r.waiting, r.crashUntil, r.pullUntil, r.retryAt = failure{}, time.Time{}, time.Time{}, time.Time{}
		return w.stopIfAsked(ctx, pod, c, r)
	case r.current != nil && !exited:
		// Created but never started: the agent stopped in between.
		return w.tryStart(ctx, pod, c, r, r.attempt(), 0, now)
	case exited && r.replaced:
		// Stopped for a new spec: the new attempt starts at once.
		r.replaced = false
		return w.tryStart(ctx, pod, c, r, r.attempt()+1, 0, now)
	case exited && !shouldRestart(kind, pod.Spec.RestartPolicy, code):
		r.waiting = failure{}
		return false
	case exited:
		delay := w.restartDelayOf(r)
		finished := r.current.FinishedAt
		if finished.IsZero() {
			finished = r.current.CreatedAt
		}
		if at := finished.Add(delay); now.Before(at) {
			w.crashLoop(pod, c, r, delay, at)
			return false
		}
		return w.tryStart(ctx, pod, c, r, r.attempt()+1, delay, now)
	default:
		return w.tryStart(ctx, pod, c, r, 0, 0, now)
	}
}

// stopIfAsked stops a running attempt whose probe failed or whose spec
// changed, and reports whether it did.
func (w *worker) stopIfAsked(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *tracked) bool {
	if k, ok := w.takeKill(r.current.ID); ok {
		// A probe failed: stop the attempt; the restart policy decides the rest.
		w.event(pod, corev1.EventTypeNormal, eventKilling, "%s", k.message)
		grace := gracePeriod(pod)
		if k.grace != nil {
			grace = time.Duration(*k.grace) * time.Second
		}
		w.stopProber(c.Name)
		w.stopGroup(ctx, pod, []*tracked{r}, grace)
		return true
	}
	if h, ok := r.current.Labels[ctrd.LabelSpecHash]; !ok || specHashOf(h, c) {
		return false
	}
	// The pod's spec of this container changed (a new image): replace the
	// container with a new attempt, as the kubelet does.
	w.event(pod, corev1.EventTypeNormal, eventKilling, "Container %s definition changed, will be restarted", c.Name)
	r.replaced = true
	w.stopGroup(ctx, pod, []*tracked{r}, gracePeriod(pod))
	return true
}

// crashLoop keeps an exited container waiting for its restart back-off,
// with one BackOff event per back-off.
func (w *worker) crashLoop(pod *corev1.Pod, c *corev1.Container, r *tracked, delay time.Duration, until time.Time) {
	r.waiting = failure{ReasonCrashLoopBackOff, backoffMessage(delay, c.Name, pod)}
	if r.crashUntil != until {
		r.crashUntil = until
		w.event(pod, corev1.EventTypeWarning, eventBackOff, "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
	}
}

// tryStart starts attempt of c unless a pull back-off or a retry pause
// holds it, and records why it does not run when it fails. It reports
// whether containerd changed.
func (w *worker) tryStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *tracked, attempt int, delay time.Duration, now time.Time) bool {
	if now.Before(r.pullUntil) {
		if r.waiting.reason == ReasonErrImagePull {
			r.waiting = failure{ReasonImagePullBackOff, "Back-off pulling image \"" + c.Image + "\": " + r.waiting.message}
		}
		return false
	}
	if now.Before(r.retryAt) {
		return false
	}
	changed, err := w.start(ctx, pod, c, r, attempt, delay)
	if err == nil {
		r.waiting, r.pullUntil, r.retryAt = failure{}, time.Time{}, time.Time{}
		return changed
	}
	r.waiting = failureOf(err)
	if errors.Is(err, ctrd.ErrPull) {
		ref := imageRef(c.Image)
		d := nextBackoff(w.pullDelays[ref], 0)
		w.pullDelays[ref] = d
		r.pullUntil = now.Add(d)
	} else if !changed {
		r.retryAt = now.Add(retryPause)
	}
	if reportedByEvent(r.waiting.reason) {
		w.event(pod, corev1.EventTypeWarning, eventFailed, "Error: %s", r.waiting.message)
	}
	return changed
}

// restartDelayOf is the back-off before restarting r's exited attempt.
func (w *worker) restartDelayOf(r *tracked) time.Duration {
	prev, ok := restartDelay(r.current.Labels)
	if !ok || r.attempt() == 0 {
		return 0
	}
	ran := time.Duration(0)
	if !r.current.StartedAt.IsZero() && !r.current.FinishedAt.IsZero() {
		ran = r.current.FinishedAt.Sub(r.current.StartedAt)
	}
	return nextBackoff(prev, ran)
}

func backoffMessage(d time.Duration, name string, pod *corev1.Pod) string {
	return "back-off " + d.String() + " restarting failed container=" + name + " pod=" + pod.Name + "_" + pod.Namespace + "(" + string(pod.UID) + ")"
}
