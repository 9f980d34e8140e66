// Package provider is vk-containerd's virtual-kubelet provider: it keeps the
// node's status (NodeStatus) and realizes the pods bound to the node (Pods).
//
// Each pod has one worker goroutine that owns everything about it: its
// sandbox, its containers and its status. Events (a new spec, a deletion, a
// container exit from containerd, a back-off timer) only kick the worker;
// the worker compares what containerd reports with what the pod asks for and
// acts, then reports the status through NotifyPods. A pod where nothing
// happens costs a parked goroutine.
package provider

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/stats"
	"github.com/vk-containerd/vk-containerd/internal/volumes"
)

// PodsConfig is what the pod side of the provider needs.
type PodsConfig struct {
	NodeName string
	HostIP   net.IP
	// HostNetNS is the network namespace hostNetwork pods join; empty:
	// containerd's, the host's.
	HostNetNS string
	// NodeMemory is the node's memory in bytes, for oom_score_adj of burstable pods.
	NodeMemory int64
	// Allocatable is the node's allocatable resources: the downward API's
	// value of a limit a container does not set.
	Allocatable corev1.ResourceList
	Runtime     Runtime
	Images      Images
	Sandboxes   Sandboxes
	// PodDirs holds the pods' directories (logs, termination messages, volumes).
	PodDirs poddir.Root
	// Volumes materializes pod volumes; nil: a volumes.Manager under PodDirs
	// that reads through Client.
	Volumes Volumes
	// Clock tells the time; nil: the wall clock.
	Clock    Clock
	Client   kubernetes.Interface
	Recorder record.EventRecorder
	// LogDriver is the binary the shim runs to write container logs (the agent's own).
	LogDriver   string
	LogMaxSize  int64
	LogMaxFiles int
	// SeccompRoot holds the node's Localhost seccomp profiles.
	SeccompRoot string
	// BootTime is when the node started, for /stats/summary.
	BootTime time.Time
	// DiskPressure reports whether the node is under disk pressure, when
	// new pods are refused; nil: never.
	DiskPressure func() bool
	// HostRoot is where the agent sees the host's / when it runs in a
	// container; empty on the host (see volumes.Manager.HostRoot).
	HostRoot string
}

// Pods realizes the pods bound to the node. It implements
// node.PodLifecycleHandler and node.PodNotifier.
type Pods struct {
	cfg     PodsConfig
	source  apiSource
	volumes Volumes
	clock   Clock
	ctx     context.Context
	// drain outlives ctx by drainTimeout: deletions in progress when the
	// agent stops finish under it (see worker.run).
	drain context.Context

	mu        sync.Mutex // guards workers, byName, hostPorts, grants, deferred and notify
	workers   map[types.UID]*worker
	byName    map[string]types.UID
	hostPorts map[types.UID][]hostPort // of the admitted pods not yet done
	grants    map[types.UID]grant      // of the admitted pods not yet done
	deferred  map[types.UID]struct{}   // pods whose resize waits for room
	notify    func(*corev1.Pod)

	streams streamSet // stdin of containers with `stdin: true`

	probeMetrics *probeMetrics

	statsMu    sync.Mutex
	rateBase   *stats.Sample // the sample cpu rates are computed against
	rateBefore *stats.Sample // the one before it
}

var (
	_ node.PodLifecycleHandler = (*Pods)(nil)
	_ node.PodNotifier         = (*Pods)(nil)
)

// NewPods returns the pod provider. Workers live until ctx ends.
func NewPods(ctx context.Context, cfg PodsConfig) *Pods {
	src := apiSource{client: cfg.Client}
	p := &Pods{
		cfg:       cfg,
		source:    src,
		volumes:   cfg.Volumes,
		clock:     cfg.Clock,
		ctx:       ctx,
		drain:     drainContext(ctx, drainTimeout),
		workers:   map[types.UID]*worker{},
		byName:    map[string]types.UID{},
		hostPorts: map[types.UID][]hostPort{},
		grants:    map[types.UID]grant{},
		deferred:  map[types.UID]struct{}{},

		probeMetrics: newProbeMetrics(),
	}
	if p.volumes == nil {
		m := volumes.NewManager(cfg.PodDirs, src, cfg.Allocatable, nil)
		m.HostRoot = cfg.HostRoot
		p.volumes = m
	}
	if p.clock == nil {
		p.clock = wallClock{}
	}
	return p
}

func nameKey(namespace, name string) string { return namespace + "/" + name }

// CreatePod starts a worker for the pod; the work happens in the background.
func (p *Pods) CreatePod(_ context.Context, pod *corev1.Pod) error {
	if w, added := p.add(pod, stateCreating); added {
		go w.run(p.ctx)
	}
	return nil
}

// AdoptTerminal gives a worker to a pod that had ended (Succeeded or
// Failed) before the agent started. The pod controller does not hand such
// pods to the provider, but their containers and sandbox are still on the
// node: the worker holds them, restarts nothing, and releases them when
// the pod is deleted.
func (p *Pods) AdoptTerminal(pod *corev1.Pod) {
	if w := p.adoptTerminal(pod); w != nil {
		go w.run(p.ctx)
	}
}

// adoptTerminal registers the terminal worker of AdoptTerminal, or returns
// nil when the pod has not ended or has a worker.
func (p *Pods) adoptTerminal(pod *corev1.Pod) *worker {
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		return nil
	}
	w, added := p.add(pod, stateTerminal)
	if !added {
		return nil
	}
	w.failure = failure{pod.Status.Reason, pod.Status.Message}
	if pod.Status.StartTime != nil {
		w.startTime = *pod.Status.StartTime
	}
	return w
}

// add registers a new worker for pod in state, or hands the pod to the
// worker it has and reports false.
func (p *Pods) add(pod *corev1.Pod, state podState) (*worker, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.workers[pod.UID]; ok {
		w.update(pod)
		return w, false
	}
	w := newWorker(p, pod)
	w.state = state
	p.workers[pod.UID] = w
	p.byName[nameKey(pod.Namespace, pod.Name)] = pod.UID
	return w, true
}

// UpdatePod hands the worker the pod's new spec.
func (p *Pods) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	w := p.worker(pod.Namespace, pod.Name)
	if w == nil || w.uid != pod.UID {
		return p.CreatePod(ctx, pod)
	}
	w.update(pod)
	return nil
}

// DeletePod asks the pod's worker to stop the pod and release everything it
// holds; the final status follows through NotifyPods. A pod being deleted in
// the API that has no worker (its deletion began before the agent
// restarted) gets one, which releases whatever of it is on the node and
// finishes the deletion, as the kubelet would.
func (p *Pods) DeletePod(_ context.Context, pod *corev1.Pod) error {
	w, err := p.deleting(pod)
	if w != nil {
		go w.run(p.ctx)
	}
	return err
}

// deleting hands the deletion to the pod's worker, or returns a new worker,
// not yet running, for a pod deleted in the API that has none.
func (p *Pods) deleting(pod *corev1.Pod) (*worker, error) {
	p.mu.Lock()
	w, ok := p.workers[pod.UID]
	if !ok {
		if uid, found := p.byName[nameKey(pod.Namespace, pod.Name)]; found {
			w, ok = p.workers[uid]
		}
	}
	p.mu.Unlock()
	if ok {
		w.requestDelete(pod)
		return nil, nil
	}
	if pod.DeletionTimestamp == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", pod.Namespace, pod.Name)
	}
	w, added := p.add(pod, stateCreating)
	w.requestDelete(pod)
	if !added {
		return nil, nil
	}
	return w, nil
}

func (p *Pods) worker(namespace, name string) *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	uid, ok := p.byName[nameKey(namespace, name)]
	if !ok {
		return nil
	}
	return p.workers[uid]
}

// forget removes a worker whose pod is gone.
func (p *Pods) forget(w *worker) {
	p.mu.Lock()
	var waiting []*worker
	if p.workers[w.uid] == w {
		delete(p.workers, w.uid)
		waiting = p.dropGrantLocked(w.uid)
	}
	key := nameKey(w.namespace, w.name)
	if p.byName[key] == w.uid {
		delete(p.byName, key)
	}
	p.mu.Unlock()
	for _, other := range waiting {
		other.kick()
	}
	p.probeMetrics.forget(w.uid, w.namespace, w.name)
}

// GetPod returns the pod as it was given, with its current status.
func (p *Pods) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	w := p.worker(namespace, name)
	if w == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	return w.podWithStatus(), nil
}

// GetPodStatus returns the pod's current status.
func (p *Pods) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods lists the pods on the node.
func (p *Pods) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.podWithStatus())
	}
	return out, nil
}

// NotifyPods sets the callback that receives every pod whose status changed.
func (p *Pods) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notify = cb
}

// ReconcileStatus takes a pod as the API server has it, keeps the conditions
// others set on it, hands the worker a newer spec that virtual-kubelet does
// not pass on (it compares containers, not pod-level resources or volumes,
// which a resize may change too), and publishes the worker's status again when the two
// disagree on readiness. The node
// lifecycle controller marks every pod of a node it lost touch with not
// Ready; a kubelet's status manager writes its own status back when the node
// is back, and so does the agent, for pods whose status did not change
// meanwhile and so would not be published otherwise.
func (p *Pods) ReconcileStatus(pod *corev1.Pod) {
	p.mu.Lock()
	w := p.workers[pod.UID]
	p.mu.Unlock()
	if w == nil {
		return
	}
	w.takeAPIConditions(pod)
	w.updateIfNewer(pod)
	mine := w.podWithStatus()
	if readyStatus(mine.Status) != readyStatus(pod.Status) {
		// virtual-kubelet drops a notification equal to the one before: this
		// one is of the API's newer version of the pod.
		mine.ResourceVersion = pod.ResourceVersion
		p.publish(mine)
	}
}

// readyStatus is the status of the pod's Ready condition, "" without one.
func readyStatus(s corev1.PodStatus) corev1.ConditionStatus {
	for _, c := range s.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

func (p *Pods) publish(pod *corev1.Pod) {
	p.mu.Lock()
	cb := p.notify
	p.mu.Unlock()
	if cb != nil {
		cb(pod)
	}
}

// WatchExits kicks the worker of each container that exits, until ctx ends.
// It subscribes again when containerd's event stream breaks (containerd
// restarted) and then kicks every worker, since exits may have been missed.
func (p *Pods) WatchExits(ctx context.Context) {
	for ctx.Err() == nil {
		exits, errs := p.cfg.Runtime.Exits(ctx)
		p.kickAll()
		for id := range exits {
			p.mu.Lock()
			w := p.workers[podUIDOf(id)]
			p.mu.Unlock()
			if w != nil {
				w.kick()
			}
		}
		select {
		case err := <-errs:
			log.G(ctx).WithError(err).Warn("containerd event stream broke; subscribing again")
		default:
		}
		select {
		case <-ctx.Done():
		case <-time.After(reconnectPause):
		}
	}
}

func (p *Pods) kickAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.workers {
		w.kick()
	}
}

// CollectOrphans removes what no pod of this node owns any more: containerd
// containers, the snapshots of creations that never made a container, and
// pod directories (namespaces, CNI attachment) left by pods deleted while
// the agent was down. known tells which pod UIDs are bound to the node
// according to the API server.
func (p *Pods) CollectOrphans(ctx context.Context, known func(types.UID) bool) error {
	owned := func(uid types.UID) bool {
		p.mu.Lock()
		_, ok := p.workers[uid]
		p.mu.Unlock()
		return ok || known(uid)
	}
	cs, err := p.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		uid := types.UID(c.Labels[ctrd.LabelPodUID])
		if owned(uid) {
			continue
		}
		log.G(ctx).WithField("container", c.ID).Info("removing container of a pod that is gone")
		if err := p.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil {
			log.G(ctx).WithError(err).WithField("container", c.ID).Warn("cannot remove orphan container")
		}
	}
	keys, err := p.cfg.Runtime.ActiveSnapshots(ctx)
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	for _, key := range keys {
		// A container's snapshot is keyed by its id, an image volume's view by
		// imageViewKey: both start with the pod UID.
		if !isPodSnapshot(key) || owned(podUIDOf(key)) {
			continue
		}
		log.G(ctx).WithField("snapshot", key).Info("removing snapshot of a pod that is gone")
		if err := p.cfg.Runtime.RemoveSnapshot(ctx, key); err != nil {
			log.G(ctx).WithError(err).Warn("cannot remove orphan snapshot")
		}
	}
	uids, err := p.cfg.Sandboxes.Leftovers()
	if err != nil {
		return err
	}
	for _, uid := range uids {
		if owned(types.UID(uid)) {
			continue
		}
		log.G(ctx).WithField("pod-uid", uid).Info("removing sandbox of a pod that is gone")
		gone := &corev1.Pod{}
		gone.UID = types.UID(uid)
		if err := p.volumes.Cleanup(uid); err != nil {
			log.G(ctx).WithError(err).Warn("cannot clean orphan volumes")
		}
		if err := p.cfg.Sandboxes.Remove(ctx, gone); err != nil {
			log.G(ctx).WithError(err).WithField("pod-uid", uid).Warn("cannot remove orphan sandbox")
		}
	}
	return nil
}

// ReleaseGone releases what pod uid left on the host once its object is
// gone from the API, unless a worker has it: virtual-kubelet removes a
// deleted pod that does not run from the API without telling the provider,
// so a pod deleted while the agent was down, whose worker the restarted
// agent never made, is released here. Only a pod whose directory is still
// there costs a look at containerd.
func (p *Pods) ReleaseGone(ctx context.Context, uid types.UID) {
	p.mu.Lock()
	_, working := p.workers[uid]
	p.mu.Unlock()
	if working {
		return
	}
	left, err := p.cfg.Sandboxes.Leftovers()
	if err != nil || !slices.Contains(left, string(uid)) {
		return
	}
	if err := p.CollectOrphans(ctx, func(u types.UID) bool { return u != uid }); err != nil {
		log.G(ctx).WithError(err).WithField("pod-uid", uid).Warn("releasing a pod that is gone")
	}
}

// drainTimeout bounds how long deletions in progress may go on after the
// agent was told to stop: less than the 30 s a kubelet gives the agent's
// pod, so that they end before it is killed.
const drainTimeout = 20 * time.Second

// drainContext ends timeout after ctx does.
func drainContext(ctx context.Context, timeout time.Duration) context.Context {
	drain, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() { time.AfterFunc(timeout, cancel) })
	return drain
}

// DrainContext ends drainTimeout after the agent's context: run what
// deletions in progress need under it (the exit events they wait for).
func (p *Pods) DrainContext() context.Context { return p.drain }

// WaitForDeletions waits, once the agent stops, until the deletions in
// progress have released what their pods held on the host (or the drain
// time is over): a pod the API server no longer shows may still be tearing
// down, and the next agent, if any, would have to find its leftovers.
func (p *Pods) WaitForDeletions() {
	for {
		if p.deletionsInProgress() == 0 {
			return
		}
		select {
		case <-p.drain.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Pods) deletionsInProgress() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, w := range p.workers {
		if w.deleted() {
			n++
		}
	}
	return n
}
