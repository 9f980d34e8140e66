package provider

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/podspec"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
)

const (
	// retryPause is how soon a sync that failed on a transient error runs again.
	retryPause = 2 * time.Second
	// reconnectPause is how long to wait before subscribing to containerd's events again.
	reconnectPause = time.Second
	// volumeRefreshPeriod is how often configMap, secret and projected volumes are rewritten.
	volumeRefreshPeriod = time.Minute
)

var timeAfter = time.After

// worker owns one pod. Its phases: creating (sandbox, then init
// containers), running (app containers, restarted by policy), terminal
// (Succeeded or Failed, nothing restarts), terminating (on deletion: stop
// every container, release the sandbox) and gone (forgotten). Only the run
// goroutine touches the fields below the mutex.
type worker struct {
	p                    *Pods
	uid                  types.UID
	namespace, name      string
	kickc                chan struct{}
	mu                   sync.Mutex // guards pod, deleteGrace, deleting and status
	pod                  *corev1.Pod
	deleting             bool
	deleteGrace          time.Duration
	deleteInAPI          bool // the API server waits for the node to finish a graceful deletion
	status               corev1.PodStatus
	sb                   *sandbox.Sandbox
	volumePaths          map[string]string
	records              map[string]*tracked
	startTime            metav1.Time
	sandboxErr           string
	terminal             bool
	nextVolumeRefresh    time.Time
	imageBackoff         map[string]time.Duration
	failedInit           bool
	deadlineExceeded     bool // activeDeadlineSeconds passed: the pod failed
	rejectReason         string
	rejectMessage        string // why the node refused the pod, which then failed
	started              bool   // a container was started in this sync
	announcedBackoffTill map[string]time.Time
	probers              map[string]*prober     // by container name
	kills                map[string]killRequest // by attempt id, from failed probes; guarded by mu
	messages             map[string]string      // termination messages of ended attempts, by id
}

func newWorker(p *Pods, pod *corev1.Pod) *worker {
	return &worker{
		p: p, uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
		kickc:                make(chan struct{}, 1),
		pod:                  pod.DeepCopy(),
		status:               *pod.Status.DeepCopy(),
		records:              map[string]*tracked{},
		probers:              map[string]*prober{},
		kills:                map[string]killRequest{},
		messages:             map[string]string{},
		imageBackoff:         map[string]time.Duration{},
		announcedBackoffTill: map[string]time.Time{},
	}
}

// kick asks the worker to sync soon; kicks while one is pending merge.
func (w *worker) kick() {
	select {
	case w.kickc <- struct{}{}:
	default:
	}
}

func (w *worker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod.DeepCopy()
	w.mu.Unlock()
	w.kick()
}

// requestDelete starts termination with the pod's grace period; a pod that
// is gone from the API without a grace period is killed at once.
func (w *worker) requestDelete(pod *corev1.Pod) {
	grace := time.Duration(0)
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	w.mu.Lock()
	if !w.deleting || grace < w.deleteGrace {
		w.deleteGrace = grace
	}
	w.deleting = true
	w.deleteInAPI = w.deleteInAPI || pod.DeletionTimestamp != nil
	w.mu.Unlock()
	w.kick()
}

func (w *worker) podWithStatus() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	pod := w.pod.DeepCopy()
	pod.Status = *w.status.DeepCopy()
	return pod
}

func (w *worker) run(ctx context.Context) {
	ctx = log.WithLogger(ctx, log.G(ctx).WithField("pod", w.namespace+"/"+w.name))
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stopProbers()
			return
		case <-w.kickc:
		case <-timer.C:
		}
		wake, done := w.sync(ctx)
		if done {
			w.stopProbers()
			w.p.forget(w)
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if wake > 0 {
			timer.Reset(wake)
		}
	}
}

// sync brings the pod one step closer to its spec and reports when it needs
// to run again without a kick (0: not before an event).
func (w *worker) sync(ctx context.Context) (wake time.Duration, done bool) {
	w.mu.Lock()
	pod, deleting, grace, inAPI := w.pod.DeepCopy(), w.deleting, w.deleteGrace, w.deleteInAPI
	w.mu.Unlock()

	if err := w.observe(ctx); err != nil {
		log.G(ctx).WithError(err).Warn("cannot read the pod's containers from containerd")
		return retryPause, false
	}
	if deleting {
		w.stopProbers()
		if err := w.terminate(ctx, pod, grace); err != nil {
			log.G(ctx).WithError(err).Warn("pod teardown incomplete; retrying")
			return retryPause, false
		}
		if inAPI {
			w.finishDeletion(ctx, pod)
		}
		return 0, true
	}
	now := time.Now()
	if w.startTime.IsZero() {
		w.startTime = metav1.NewTime(now)
		if pod.Status.StartTime != nil {
			w.startTime = *pod.Status.StartTime
		}
	}
	if w.rejectReason == "" && !w.started && len(w.records) == 0 {
		// Admission, as on the kubelet: a pod the node cannot run fails
		// before anything of it starts.
		if msg := podspec.ForbiddenSysctl(pod); msg != "" {
			w.rejectReason, w.rejectMessage = ReasonSysctlForbidden, "Pod "+msg
			w.event(pod, corev1.EventTypeWarning, ReasonSysctlForbidden, "%s", w.rejectMessage)
		}
	}
	if !w.terminal && pastDeadline(pod, w.startTime.Time, now) {
		// The kubelet fails a pod that outlives activeDeadlineSeconds.
		w.deadlineExceeded = true
		w.event(pod, corev1.EventTypeNormal, ReasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline")
	}
	if !w.terminal && !w.deadlineExceeded && w.rejectReason == "" {
		if w.sb == nil && !w.ensureSandbox(ctx, pod) {
			w.setStatus(pod, now)
			return retryPause, false
		}
		w.refreshVolumes(ctx, pod, now)
		w.started = false
		if w.syncInit(ctx, pod, now) {
			for i := range pod.Spec.Containers {
				w.step(ctx, pod, &pod.Spec.Containers[i], kindApp, now)
			}
			for i := range pod.Spec.EphemeralContainers {
				w.step(ctx, pod, ephemeral(&pod.Spec.EphemeralContainers[i]), kindEphemeral, now)
			}
		}
		if err := w.observe(ctx); err != nil {
			return retryPause, false
		}
		if w.started {
			// A container that just started may let the next step go (a
			// sidecar that is up): sync again at once rather than wait for an event.
			defer w.kick()
		}
		w.syncProbers(ctx, pod)
	}
	if phase := w.buildStatus(pod, now).Phase; !w.terminal && (phase == corev1.PodSucceeded || phase == corev1.PodFailed) {
		// The API server takes no status after a terminal phase: stop what
		// still runs (sidecars) first, so the final status is complete.
		w.terminal = true
		w.stopProbers()
		w.stopAll(ctx, pod, gracePeriod(pod))
		if err := w.observe(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("cannot read the pod's containers from containerd")
		}
	}
	w.setStatus(pod, time.Now())
	return w.nextWake(now), false
}

// observe reads the pod's containers from containerd into the records,
// keeping the latest two attempts of each and removing older ones.
func (w *worker) observe(ctx context.Context) error {
	cs, err := w.p.cfg.Runtime.ListContainers(ctx, ctrd.PodFilter(string(w.uid)))
	if err != nil {
		return err
	}
	byName := map[string][]ctrd.ContainerStatus{}
	for _, c := range cs {
		n := c.Labels[ctrd.LabelContainerName]
		byName[n] = append(byName[n], c)
	}
	for name, r := range w.records {
		if _, ok := byName[name]; !ok {
			r.current, r.previous = nil, nil
		}
	}
	for name, list := range byName {
		sort.Slice(list, func(i, j int) bool { return ctrd.Attempt(list[i].Labels) > ctrd.Attempt(list[j].Labels) })
		r := w.records[name]
		if r == nil {
			r = &tracked{name: name, kind: list[0].Labels[ctrd.LabelContainerKind]}
			w.records[name] = r
		}
		cur := list[0]
		r.current, r.previous = &cur, nil
		w.reattachStreams(ctx, cur)
		if r.imageID == "" && w.p.cfg.Images != nil {
			// An adopted container: name its image by digest, as at start.
			if img, err := w.p.cfg.Images.Get(ctx, cur.Image); err == nil {
				r.imageID = imageID(cur.Image, img)
			}
		}
		if len(list) > 1 {
			prev := list[1]
			r.previous = &prev
		}
		for _, old := range list[min(2, len(list)):] {
			if err := w.p.cfg.Runtime.RemoveContainer(ctx, old.ID); err != nil {
				log.G(ctx).WithError(err).WithField("container", old.ID).Warn("cannot remove an old attempt")
			}
		}
	}
	return nil
}

func (w *worker) track(name, kind string) *tracked {
	r := w.records[name]
	if r == nil {
		r = &tracked{name: name, kind: kind}
		w.records[name] = r
	}
	r.kind = kind
	return r
}

func (w *worker) ensureSandbox(ctx context.Context, pod *corev1.Pod) bool {
	t0 := time.Now()
	sb, err := w.p.cfg.Sandboxes.Ensure(ctx, pod)
	log.G(ctx).WithField("took", time.Since(t0)).Debug("sandbox")
	if err != nil {
		w.sandboxErr = err.Error()
		w.event(pod, corev1.EventTypeWarning, eventSandboxError, "Failed to create pod sandbox: %v", err)
		return false
	}
	if sb.DNSWarning != "" {
		w.event(pod, corev1.EventTypeWarning, "DNSConfigForming", "%s", sb.DNSWarning)
	}
	t1 := time.Now()
	paths, err := w.p.volumes.Prepare(ctx, pod)
	log.G(ctx).WithField("took", time.Since(t1)).Debug("volumes")
	if err != nil {
		w.sandboxErr = err.Error()
		w.event(pod, corev1.EventTypeWarning, eventFailedMount, "MountVolume.SetUp failed: %v", err)
		return false
	}
	w.sb, w.volumePaths, w.sandboxErr = sb, paths, ""
	w.nextVolumeRefresh = time.Now().Add(volumeRefreshPeriod)
	return true
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
// regular ones succeeded and all sidecars started.
func (w *worker) syncInit(ctx context.Context, pod *corev1.Pod, now time.Time) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		kind := kindInit
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			kind = kindSidecar
		}
		r := w.track(c.Name, kind)
		if kind == kindSidecar {
			w.step(ctx, pod, c, kind, now)
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
				w.failedInit = true
				return false
			}
		}
		w.step(ctx, pod, c, kind, now)
		return false
	}
	return true
}

// step moves one container toward running: start it if it never ran,
// restart it per policy and back-off if it exited.
func (w *worker) step(ctx context.Context, pod *corev1.Pod, c *corev1.Container, kind string, now time.Time) {
	r := w.track(c.Name, kind)
	if r.running() {
		r.waitingReason, r.waitingMessage, r.restartAt = "", "", time.Time{}
		if k, ok := w.takeKill(r.current.ID); ok {
			// A probe failed: stop the attempt; the restart policy decides the rest.
			w.event(pod, corev1.EventTypeNormal, eventKilling, "%s", k.message)
			grace := gracePeriod(pod)
			if k.grace != nil {
				grace = time.Duration(*k.grace) * time.Second
			}
			w.stopProber(c.Name)
			w.stopGroup(ctx, pod, []*tracked{r}, grace)
			_ = w.observe(ctx)
			return
		}
		if h, ok := r.current.Labels[labelSpecHash]; !ok || h == specHash(c) {
			return
		}
		// The pod's spec of this container changed (a new image): replace
		// the container with a new attempt, at once, as the kubelet does.
		w.event(pod, corev1.EventTypeNormal, eventKilling, "Container %s definition changed, will be restarted", c.Name)
		w.stopGroup(ctx, pod, []*tracked{r}, gracePeriod(pod))
		if err := w.observe(ctx); err != nil {
			return
		}
		if exited, _ := r.exited(); exited {
			w.start(ctx, pod, c, r, r.attempt()+1, 0)
		}
		return
	}
	exited, code := r.exited()
	switch {
	case r.current != nil && !exited:
		// Created but never started: the agent stopped in between.
		w.start(ctx, pod, c, r, r.attempt(), 0)
	case exited:
		if !shouldRestart(kind, pod.Spec.RestartPolicy, code) {
			r.waitingReason, r.waitingMessage = "", ""
			return
		}
		delay := w.restartDelayOf(r)
		finished := r.current.FinishedAt
		if finished.IsZero() {
			finished = r.current.CreatedAt
		}
		if at := finished.Add(delay); now.Before(at) {
			r.restartAt = at
			r.waitingReason = ReasonCrashLoopBackOff
			r.waitingMessage = backoffMessage(delay, c.Name, pod)
			if w.announcedBackoffTill[c.Name] != at {
				w.announcedBackoffTill[c.Name] = at
				w.event(pod, corev1.EventTypeWarning, eventBackOff, "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
			}
			return
		}
		w.start(ctx, pod, c, r, r.attempt()+1, delay)
	default:
		if now.Before(r.restartAt) {
			if r.waitingReason == ReasonErrImagePull {
				r.waitingReason = ReasonImagePullBackOff
				r.waitingMessage = "Back-off pulling image \"" + c.Image + "\": " + r.waitingMessage
			}
			return
		}
		w.start(ctx, pod, c, r, 0, 0)
	}
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

// pastDeadline reports whether the pod has been active for its
// activeDeadlineSeconds.
func pastDeadline(pod *corev1.Pod, started, now time.Time) bool {
	d := pod.Spec.ActiveDeadlineSeconds
	return d != nil && !started.IsZero() && !now.Before(started.Add(time.Duration(*d)*time.Second))
}

// nextWake is the earliest back-off end, volume refresh or active deadline.
func (w *worker) nextWake(now time.Time) time.Duration {
	next := w.nextVolumeRefresh
	if w.terminal {
		return 0
	}
	w.mu.Lock()
	deadline := w.pod.Spec.ActiveDeadlineSeconds
	w.mu.Unlock()
	if deadline != nil && !w.startTime.IsZero() {
		if at := w.startTime.Add(time.Duration(*deadline) * time.Second); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for _, r := range w.records {
		if !r.restartAt.IsZero() && r.restartAt.After(now) && (next.IsZero() || r.restartAt.Before(next)) {
			next = r.restartAt
		}
	}
	if next.IsZero() {
		return 0
	}
	if d := next.Sub(now); d > 0 {
		return d
	}
	return 10 * time.Millisecond
}

func (w *worker) event(pod *corev1.Pod, typ, reason, format string, args ...interface{}) {
	if w.p.cfg.Recorder != nil {
		w.p.cfg.Recorder.Eventf(pod, typ, reason, format, args...)
	}
}

// setStatus computes the pod's status, stores it and publishes it if it changed.
func (w *worker) setStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	status := w.buildStatus(pod, now)
	w.mu.Lock()
	changed := !equality.Semantic.DeepEqual(w.status, status)
	w.status = status
	w.mu.Unlock()
	if changed {
		out := pod.DeepCopy()
		out.Status = *status.DeepCopy()
		w.p.publish(out)
	}
	return status
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// ephemeral is an ephemeral container as a container: the API keeps the
// same fields under another type.
func ephemeral(ec *corev1.EphemeralContainer) *corev1.Container {
	return (*corev1.Container)(&ec.EphemeralContainerCommon)
}
