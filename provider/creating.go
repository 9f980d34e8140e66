package provider

import (
	"context"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vk-containerd/vk-containerd/internal/podspec"
)

// syncCreating is the work of stateCreating: admit the pod, then build its
// sandbox and volumes. It moves to running once they are ready, or to
// terminal when the node refuses the pod or its deadline passed first.
func (w *worker) syncCreating(ctx context.Context, pod *corev1.Pod, now time.Time) pass {
	if w.startTime.IsZero() {
		w.startTime = metav1.NewTime(now)
		if pod.Status.StartTime != nil {
			w.startTime = *pod.Status.StartTime
		}
	}
	// Admission, as on the kubelet: a pod the node cannot run fails before
	// anything of it starts. A pod with containers already (adopted after a
	// restart of the agent) was admitted before.
	if len(w.records) == 0 {
		// Host paths are made from these names: refuse unsafe ones first.
		if msg := podspec.InvalidNames(pod); msg != "" {
			return w.fail(ctx, pod, failure{ReasonFailedValidation, msg}, corev1.EventTypeWarning)
		}
		if msg := podspec.ForbiddenSysctl(pod); msg != "" {
			return w.fail(ctx, pod, failure{ReasonSysctlForbidden, "Pod " + msg}, corev1.EventTypeWarning)
		}
		if w.p.cfg.DiskPressure != nil && w.p.cfg.DiskPressure() && !critical(pod) {
			return w.fail(ctx, pod, diskPressureFailure, corev1.EventTypeWarning)
		}
	}
	adopted := len(w.records) > 0
	w.startObserved = w.startObserved || adopted // it started before this agent saw it
	if !w.p.claimHostPorts(w.uid, hostPortsOf(pod), adopted) {
		return w.fail(ctx, pod, hostPortsFailure, corev1.EventTypeWarning)
	}
	// Granted once: a resize asked for while the sandbox is still being
	// made waits for the running pod (syncResize), as any other.
	if _, granted := w.p.granted(w.uid); !granted {
		a := allocationOf(pod)
		if adopted {
			a = w.adoptedAllocation(pod)
		}
		if short := w.p.allocate(w.uid, pod, a, adopted); short != nil {
			return w.fail(ctx, pod, failure{short.reason(), "Pod was rejected: " + short.Error()}, corev1.EventTypeWarning)
		}
	}
	if pastDeadline(pod, w.startTime.Time, now) {
		return w.fail(ctx, pod, deadlineFailure, corev1.EventTypeNormal)
	}
	if f := w.ensureSandbox(ctx, pod, now); !f.none() {
		w.sandboxFailure = f
		return pass{wake: retryPause}
	}
	w.sandboxFailure = failure{}
	w.mustMove(ctx, stateRunning)
	return pass{changed: true}
}

// diskPressureFailure is how the kubelet refuses a pod while the node is
// under disk pressure.
var diskPressureFailure = failure{ReasonEvicted, "The node had condition: [DiskPressure]. "}

// critical reports whether the kubelet would admit pod under pressure: a
// pod of system-critical priority or more.
func critical(pod *corev1.Pod) bool {
	const systemCriticalPriority = 2000000000
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority
}

// deadlineFailure is how the kubelet fails a pod that outlives activeDeadlineSeconds.
var deadlineFailure = failure{ReasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline"}

// fail records why the pod failed, says so in an event, and moves it to
// terminal, stopping whatever of it still runs.
func (w *worker) fail(ctx context.Context, pod *corev1.Pod, f failure, eventType string) pass {
	w.failure = f
	w.event(pod, eventType, f.reason, "%s", f.message)
	return w.enterTerminal(ctx, pod)
}

// enterTerminal moves the pod to terminal. The API server takes no status
// after a terminal phase, so what still runs (sidecars) is stopped first and
// the next pass reports the final statuses.
func (w *worker) enterTerminal(ctx context.Context, pod *corev1.Pod) pass {
	w.mustMove(ctx, stateTerminal)
	w.p.release(w.uid)
	w.stopProbers()
	w.stopAll(ctx, pod, gracePeriod(pod))
	return pass{changed: true}
}

// ensureSandbox builds the pod's sandbox and volumes, and returns why not
// when it cannot (yet).
func (w *worker) ensureSandbox(ctx context.Context, pod *corev1.Pod, now time.Time) failure {
	t0 := time.Now()
	sb, err := w.p.cfg.Sandboxes.Ensure(ctx, pod)
	log.G(ctx).WithField("took", time.Since(t0)).Debug("sandbox")
	if err != nil {
		w.event(pod, corev1.EventTypeWarning, eventSandboxError, "Failed to create pod sandbox: %v", err)
		return failure{eventSandboxError, err.Error()}
	}
	if sb.DNSWarning != "" {
		w.event(pod, corev1.EventTypeWarning, "DNSConfigForming", "%s", sb.DNSWarning)
	}
	t1 := time.Now()
	paths, err := w.p.volumes.Prepare(ctx, pod)
	log.G(ctx).WithField("took", time.Since(t1)).Debug("volumes")
	if err != nil {
		w.event(pod, corev1.EventTypeWarning, eventFailedMount, "MountVolume.SetUp failed: %v", err)
		return failure{eventFailedMount, err.Error()}
	}
	w.sb, w.volumePaths = sb, paths
	w.nextVolumeRefresh = now.Add(volumeRefreshPeriod)
	return failure{}
}
