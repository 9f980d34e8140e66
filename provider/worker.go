package provider

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
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

// worker owns one pod: its sandbox, its containers and its status. It runs
// passes (sync), each triggered by a kick (a new spec, a deletion, a
// container exit, a probe result) or its own timer (a back-off ending). A
// pass reads the pod's containers from containerd once, does the work of
// the pod's state (lifecycle.go), and publishes the status built from what
// it read; a pass that changed containers publishes nothing and runs again
// at once, so every status describes containers as they are.
type worker struct {
	p               *Pods
	uid             types.UID
	namespace, name string
	dir             poddir.Dir
	kickc           chan struct{}

	// mu guards what other goroutines (the pod controller, probers, the
	// kubelet API) hand to the worker or read from it.
	mu       sync.Mutex
	pod      *corev1.Pod
	deletion *deletion              // nil until the pod is deleted
	onDelete context.CancelFunc     // stops work a deletion makes pointless (a pull)
	stopping *graceWatch            // the stop in progress, cut short by a shorter grace
	status   corev1.PodStatus       // the last status published
	kills    map[string]killRequest // by attempt id, from failed probes

	// The rest is the run goroutine's alone.
	state             podState
	failure           failure // why the pod failed (terminal): refused or past its deadline
	sandboxFailure    failure // why the sandbox or volumes cannot be made yet (creating)
	sb                *sandbox.Sandbox
	volumePaths       map[string]string
	records           map[string]*tracked // by container name
	startTime         metav1.Time
	nextVolumeRefresh time.Time
	pullDelays        map[string]time.Duration // image pull back-off, by image reference
	probers           map[string]*prober       // by container name
	messages          map[string]string        // termination messages of ended attempts, by id
	resize            resizeConditions
	seen              time.Time // when the worker was made, for the pod start metric
	startObserved     bool      // the pod start metric has this pod
}

// deletion is a request to delete the pod.
type deletion struct {
	grace time.Duration
	inAPI bool // the API server waits for the node to finish a graceful deletion
}

func newWorker(p *Pods, pod *corev1.Pod) *worker {
	return &worker{
		p: p, uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
		dir:        p.cfg.PodDirs.Pod(string(pod.UID)),
		kickc:      make(chan struct{}, 1),
		pod:        pod.DeepCopy(),
		status:     *pod.Status.DeepCopy(),
		records:    map[string]*tracked{},
		probers:    map[string]*prober{},
		kills:      map[string]killRequest{},
		messages:   map[string]string{},
		pullDelays: map[string]time.Duration{},
		seen:       time.Now(),
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

// updateIfNewer takes the spec of pod when it is of a later generation
// than the worker's. Only the spec and its generation: the pod's metadata
// goes back to the API server with each status the node writes, and the
// API's own (a deletion's grace period) must not be written back stale.
func (w *worker) updateIfNewer(pod *corev1.Pod) {
	if pod.UID != w.uid {
		return
	}
	w.mu.Lock()
	newer := pod.Generation > w.pod.Generation
	if newer {
		w.pod.Spec = *pod.Spec.DeepCopy()
		w.pod.Generation = pod.Generation
	}
	w.mu.Unlock()
	if newer {
		w.kick()
	}
}

// takeAPIConditions keeps the conditions of the pod as the API has it, for
// the status the node writes: that write replaces the whole status, and would
// otherwise drop the conditions others set since the pod came to the node,
// such as DisruptionTarget from an eviction, which a Job's pod failure policy
// reads on the failed pod.
func (w *worker) takeAPIConditions(pod *corev1.Pod) {
	if pod.UID != w.uid {
		return
	}
	w.mu.Lock()
	w.pod.Status.Conditions = slices.Clone(pod.Status.Conditions)
	w.mu.Unlock()
}

// requestDelete starts termination with the pod's grace period; a pod that
// is gone from the API without a grace period is killed at once. A second
// request can only shorten the grace period.
func (w *worker) requestDelete(pod *corev1.Pod) {
	grace := time.Duration(0)
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	w.takeAPIConditions(pod)
	w.mu.Lock()
	if w.deletion == nil {
		w.deletion = &deletion{grace: grace}
	} else if grace < w.deletion.grace {
		w.deletion.grace = grace
	}
	w.deletion.inAPI = w.deletion.inAPI || pod.DeletionTimestamp != nil
	if w.onDelete != nil {
		w.onDelete()
	}
	if w.stopping != nil && w.deletion.grace < w.stopping.grace {
		w.stopping.cancel()
	}
	w.mu.Unlock()
	w.kick()
}

// graceWatch is a stop in progress and the grace period it was given.
type graceWatch struct {
	grace  time.Duration
	cancel context.CancelFunc
}

// cutShort returns ctx, canceled also when a deletion request shortens the
// grace period below grace: the waits of a stop in progress (preStop hooks,
// the stop signal's grace) end then, and a forced deletion kills at once,
// as on the kubelet. stop releases it.
func (w *worker) cutShort(ctx context.Context, grace time.Duration) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	w.stopping = &graceWatch{grace: grace, cancel: cancel}
	w.mu.Unlock()
	return ctx, func() {
		w.mu.Lock()
		w.stopping = nil
		w.mu.Unlock()
		cancel()
	}
}

// deletionGrace is the grace period of the pod's deletion, or fallback
// when it has none.
func (w *worker) deletionGrace(fallback time.Duration) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deletion == nil {
		return fallback
	}
	return min(w.deletion.grace, fallback)
}

// cancelOnDelete returns ctx, canceled also when the pod is deleted, for
// work that a deleted pod does not need: an image pull, which can take
// minutes, would otherwise hold the deletion up. stop releases it.
func (w *worker) cancelOnDelete(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.deletion != nil {
		cancel()
		return ctx, cancel
	}
	w.onDelete = cancel
	return ctx, func() {
		w.mu.Lock()
		w.onDelete = nil
		w.mu.Unlock()
		cancel()
	}
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
	done := ctx.Done()
	for {
		select {
		case <-done:
			if w.p.drain.Err() != nil || !w.deleted() {
				w.stopProbers()
				return
			}
			// The agent stops, but this pod's deletion goes on to its end,
			// bounded by the drain time: a half-released pod would hold its
			// namespaces, IP and directory until some next agent came.
			ctx = log.WithLogger(w.p.drain, log.G(ctx))
			done = ctx.Done()
		case <-w.kickc:
		case <-timer.C:
		}
		op, t0 := operationOf(w.state), time.Now()
		wake := w.sync(ctx)
		podWorkerDuration.WithLabelValues(op).Observe(time.Since(t0).Seconds())
		if w.state == stateGone {
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

// pass is what the work of one state did in a pass.
type pass struct {
	changed bool          // containers were created, started or stopped: look again at once
	wake    time.Duration // run again after this long without a kick; 0: not before an event
}

// sync runs one pass and reports when the worker needs to run again
// without a kick (0: not before an event).
func (w *worker) sync(ctx context.Context) time.Duration {
	if w.state == stateGone {
		return 0 // released; the run loop ends
	}
	now := w.p.clock.Now()
	w.mu.Lock()
	pod, del := w.pod.DeepCopy(), w.deletion
	if del != nil {
		d := *del
		del = &d
	}
	w.mu.Unlock()

	if del != nil && w.state != stateTerminating {
		w.stopProbers()
		w.mustMove(ctx, stateTerminating)
	}
	if err := w.observe(ctx); err != nil {
		log.G(ctx).WithError(err).Warn("cannot read the pod's containers from containerd")
		return retryPause
	}
	var done pass
	switch w.state {
	case stateCreating:
		done = w.syncCreating(ctx, pod, now)
	case stateRunning:
		done = w.syncRunning(ctx, pod, now)
	case stateTerminal:
		done = pass{}
	case stateTerminating:
		if err := w.syncTerminating(ctx, pod, *del); err != nil {
			log.G(ctx).WithError(err).Warn("pod teardown incomplete; retrying")
			return retryPause
		}
		return 0
	}
	if done.changed {
		w.kick()
		return 0
	}
	w.readMessages(pod)
	w.setStatus(pod, now)
	return done.wake
}

// mustMove moves to a state the caller knows to be legal; a refusal is
// logged as the bug it is.
func (w *worker) mustMove(ctx context.Context, to podState) {
	if err := w.moveTo(to); err != nil {
		log.G(ctx).WithError(err).Error("pod state machine")
	}
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
				r.imageID = imageID(cur.Image, img.Digest)
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

// pastDeadline reports whether the pod has been active for its
// activeDeadlineSeconds.
func pastDeadline(pod *corev1.Pod, started, now time.Time) bool {
	d := pod.Spec.ActiveDeadlineSeconds
	return d != nil && !started.IsZero() && !now.Before(started.Add(time.Duration(*d)*time.Second))
}

// nextWake is the earliest back-off end, volume refresh or active deadline.
func (w *worker) nextWake(pod *corev1.Pod, now time.Time) time.Duration {
	next := w.nextVolumeRefresh
	earlier := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && !w.startTime.IsZero() {
		earlier(w.startTime.Add(time.Duration(*d) * time.Second))
	}
	for _, r := range w.records {
		earlier(r.crashUntil)
		earlier(r.pullUntil)
		earlier(r.retryAt)
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
	w.observeStart(status, time.Now())
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

// currentStatus is the status published last.
func (w *worker) currentStatus() corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// deleted says whether the pod is being deleted.
func (w *worker) deleted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deletion != nil
}
