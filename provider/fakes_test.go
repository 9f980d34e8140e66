package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/poddir"
	"github.com/vk-containerd/vk-containerd/internal/podspec"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
)

// Fakes of the worker's seams, for whole sync scenarios. They keep their
// state in memory, behave as the real adapters do (errors classified the
// same way), and move only when told to: no goroutines, no sleeps.

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeRuntime holds containers in memory. A container's process runs from
// StartContainer until the test calls exit or the worker signals it.
type fakeRuntime struct {
	clock *fakeClock

	mu         sync.Mutex // guards the fields below
	containers map[string]*ctrd.ContainerStatus
	strays     map[string]bool                  // active snapshots without a container
	failStart  map[string]error                 // by container name: StartContainer fails
	failList   error                            // ListContainers fails
	failLabels error                            // SetContainerLabels fails
	stopCode   uint32                           // exit code on the stop signal
	exits      chan string                      // what Exits streams
	starts     []string                         // ids, in start order
	startCalls int                              // StartContainer calls, failed ones too
	signals    []string                         // "id signal"
	updates    map[string]*specs.LinuxResources // by id: the last in-place update
	usage      map[string]uint64                // by id: memory usage TaskUsages reports
	views      map[string]string                // image views: target by snapshot key
	// execing, when set, makes an exec (a hook) wait for its context's end
	// and tells the test, through the channel, that it began.
	execing chan struct{}
}

var _ Runtime = (*fakeRuntime)(nil)

func newFakeRuntime(clock *fakeClock) *fakeRuntime {
	return &fakeRuntime{clock: clock, containers: map[string]*ctrd.ContainerStatus{}, failStart: map[string]error{}, stopCode: 143}
}

func (f *fakeRuntime) ListContainers(_ context.Context, filters ...string) ([]ctrd.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failList != nil {
		return nil, f.failList
	}
	uid := ""
	if len(filters) > 0 {
		_, v, _ := strings.Cut(filters[0], "==")
		uid = strings.Trim(v, `"`)
	}
	var out []ctrd.ContainerStatus
	for _, c := range f.containers {
		if uid == "" || c.Labels[ctrd.LabelPodUID] == uid {
			cp := *c
			cp.Labels = copyLabels(c.Labels)
			out = append(out, cp)
		}
	}
	return out, nil
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (f *fakeRuntime) CreateContainer(_ context.Context, id string, img ctrd.Image, labels map[string]string, opts ...podspec.Option) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[id]; ok {
		return fmt.Errorf("%w: container %s", ctrd.ErrExists, id)
	}
	f.containers[id] = &ctrd.ContainerStatus{ID: id, Labels: copyLabels(labels), Image: img.Ref, State: ctrd.StateCreated, CreatedAt: f.clock.Now()}
	return nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, id string, _ *url.URL) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startCalls++
	c, ok := f.containers[id]
	if !ok {
		return 0, fmt.Errorf("%w: no container %s", ctrd.ErrStart, id)
	}
	if err := f.failStart[c.Labels[ctrd.LabelContainerName]]; err != nil {
		return 0, fmt.Errorf("%w: %w", ctrd.ErrStart, err)
	}
	c.State, c.StartedAt, c.Pid = ctrd.StateRunning, f.clock.Now(), 4242
	f.starts = append(f.starts, id)
	return c.Pid, nil
}

func (f *fakeRuntime) SignalContainer(_ context.Context, id string, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signals = append(f.signals, fmt.Sprintf("%s %d", id, sig))
	if c, ok := f.containers[id]; ok && c.State == ctrd.StateRunning {
		code := f.stopCode
		if sig == syscall.SIGKILL {
			code = 137
		}
		c.State, c.ExitCode, c.FinishedAt = ctrd.StateExited, code, f.clock.Now()
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ActiveSnapshots(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for id := range f.containers {
		keys = append(keys, id)
	}
	for key := range f.strays {
		keys = append(keys, key)
	}
	return keys, nil
}

func (f *fakeRuntime) RemoveSnapshot(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.strays, key)
	delete(f.views, key)
	return nil
}

func (f *fakeRuntime) SetContainerLabels(_ context.Context, id string, labels map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failLabels != nil {
		return f.failLabels
	}
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("no container %s", id)
	}
	for k, v := range labels {
		c.Labels[k] = v
	}
	return nil
}

func (f *fakeRuntime) Status(_ context.Context, id string) (ctrd.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return ctrd.ContainerStatus{}, fmt.Errorf("no container %s", id)
	}
	return *c, nil
}

var errNotFaked = errors.New("not part of the fake runtime")

func (f *fakeRuntime) Exec(ctx context.Context, _ string, _ []string, _ ctrd.ExecIO) (int, error) {
	if f.execing != nil {
		f.execing <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return 0, errNotFaked
}
func (f *fakeRuntime) StartContainerStreams(context.Context, string, ctrd.Streams) (uint32, func(), error) {
	return 0, nil, errNotFaked
}
func (f *fakeRuntime) AttachStreams(context.Context, string, ctrd.Streams) (func(), error) {
	return nil, errNotFaked
}
func (f *fakeRuntime) CloseStdin(context.Context, string) error                { return errNotFaked }
func (f *fakeRuntime) ResizeTTY(context.Context, string, uint16, uint16) error { return errNotFaked }
func (f *fakeRuntime) Exits(context.Context) (<-chan string, <-chan error) {
	return f.exits, make(chan error)
}
func (f *fakeRuntime) TaskUsages(context.Context) (map[string]ctrd.TaskUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]ctrd.TaskUsage{}
	for id, u := range f.usage {
		out[id] = ctrd.TaskUsage{MemoryUsage: u}
	}
	return out, nil
}

func (f *fakeRuntime) MountImageView(_ context.Context, img ctrd.Image, key, target, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.views == nil {
		f.views = map[string]string{}
	}
	f.views[key] = target
	return nil
}

func (f *fakeRuntime) UpdateResources(_ context.Context, id string, res *specs.LinuxResources) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || c.State != ctrd.StateRunning {
		return fmt.Errorf("no running task %s", id)
	}
	if f.updates == nil {
		f.updates = map[string]*specs.LinuxResources{}
	}
	f.updates[id] = res
	return nil
}
func (f *fakeRuntime) ContainerInfos(context.Context) (map[string]ctrd.ContainerInfo, error) {
	return nil, nil
}

// exit ends the running attempt of the pod's container name with code.
func (f *fakeRuntime) exit(t *testing.T, name string, code uint32) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	// By id, so that among several pods' containers of that name the
	// first pod's (by UID) ends, whatever the map's order.
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if c.Labels[ctrd.LabelContainerName] == name && c.State == ctrd.StateRunning {
			c.State, c.ExitCode, c.FinishedAt = ctrd.StateExited, code, f.clock.Now()
			return
		}
	}
	t.Fatalf("no running attempt of %s to exit", name)
}

// state is the state and attempt of the latest attempt of container name.
func (f *fakeRuntime) latest(name string) (ctrd.ContainerStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var best *ctrd.ContainerStatus
	for _, c := range f.containers {
		if c.Labels[ctrd.LabelContainerName] == name && (best == nil || ctrd.Attempt(c.Labels) > ctrd.Attempt(best.Labels)) {
			best = c
		}
	}
	if best == nil {
		return ctrd.ContainerStatus{}, false
	}
	return *best, true
}

func (f *fakeRuntime) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.containers)
}

func (f *fakeRuntime) startOrder() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, id := range f.starts {
		if c, ok := f.containers[id]; ok {
			names = append(names, c.Labels[ctrd.LabelContainerName])
		} else {
			names = append(names, "?"+id)
		}
	}
	return names
}

// fakeImages has the images in present; a pull of a reference in pullErr
// fails, any other pull succeeds and makes the image present.
type fakeImages struct {
	mu      sync.Mutex
	present map[string]bool
	pullErr map[string]error
	pulls   int
	// pulling, when set, makes a pull wait for its context's end and
	// tells the test, through the channel, that it began.
	pulling chan struct{}
}

func (f *fakeImages) Get(_ context.Context, ref string) (ctrd.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.present[ref] {
		return ctrd.Image{}, fmt.Errorf("%w: %s", ctrd.ErrImageNotFound, ref)
	}
	return ctrd.Image{Ref: ref, Digest: testDigest}, nil
}

func (f *fakeImages) Pull(ctx context.Context, ref string, _ ctrd.Credentials) (ctrd.Image, time.Duration, error) {
	if f.pulling != nil {
		f.pulling <- struct{}{}
		<-ctx.Done()
		return ctrd.Image{}, 0, fmt.Errorf("%w: %w", ctrd.ErrPull, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls++
	if err := f.pullErr[ref]; err != nil {
		return ctrd.Image{}, 0, fmt.Errorf("%w: %w", ctrd.ErrPull, err)
	}
	f.present[ref] = true
	return ctrd.Image{Ref: ref, Digest: testDigest}, time.Millisecond, nil
}

// fakeSandboxes builds sandboxes in memory; the first failEnsure calls fail.
type fakeSandboxes struct {
	mu         sync.Mutex
	failEnsure int
	live       map[string]bool
	removed    map[string]int
}

func (f *fakeSandboxes) Ensure(_ context.Context, pod *corev1.Pod) (*sandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failEnsure > 0 {
		f.failEnsure--
		return nil, errors.New(`plugin type="bridge" failed (add): no IP addresses available`)
	}
	f.live[string(pod.UID)] = true
	return &sandbox.Sandbox{IPs: []net.IP{net.ParseIP("10.244.0.9")}, Hosts: "/hosts", ResolvConf: "/resolv.conf", Hostname: "/hostname"}, nil
}

func (f *fakeSandboxes) Remove(_ context.Context, pod *corev1.Pod) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, string(pod.UID))
	f.removed[string(pod.UID)]++
	return nil
}

func (f *fakeSandboxes) Leftovers() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var uids []string
	for uid := range f.live {
		uids = append(uids, uid)
	}
	return uids, nil
}

// fakeVolumes prepares no volumes; the first failPrepare calls fail.
type fakeVolumes struct {
	mu          sync.Mutex
	failPrepare int
	prepared    map[string]bool
}

func (f *fakeVolumes) Prepare(_ context.Context, pod *corev1.Pod) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failPrepare > 0 {
		f.failPrepare--
		return nil, errors.New(`configmap "settings" not found`)
	}
	f.prepared[string(pod.UID)] = true
	paths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		paths[v.Name] = "/pods/" + string(pod.UID) + "/volumes/" + v.Name
	}
	return paths, nil
}

func (f *fakeVolumes) Refresh(context.Context, *corev1.Pod) (time.Time, error) {
	return time.Time{}, nil
}

func (f *fakeVolumes) Cleanup(uid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.prepared, uid)
	return nil
}

// fakeNode is a provider wired to fakes, with the statuses it published.
type fakeNode struct {
	t         *testing.T
	clock     *fakeClock
	rt        *fakeRuntime
	images    *fakeImages
	sandboxes *fakeSandboxes
	volumes   *fakeVolumes
	recorder  *fakeRecorder
	client    *fake.Clientset
	pods      *Pods

	mu        sync.Mutex
	published []*corev1.Pod
}

func newNode(t *testing.T) *fakeNode {
	clock := &fakeClock{t: t0}
	n := &fakeNode{
		t: t, clock: clock, rt: newFakeRuntime(clock),
		images:    &fakeImages{present: map[string]bool{}, pullErr: map[string]error{}},
		sandboxes: &fakeSandboxes{live: map[string]bool{}, removed: map[string]int{}},
		volumes:   &fakeVolumes{prepared: map[string]bool{}},
		recorder:  &fakeRecorder{},
		client:    fake.NewClientset(),
	}
	n.pods = n.newPods()
	return n
}

// newPods is a provider on the node's fakes: a second one stands for the
// agent after a restart.
func (n *fakeNode) newPods() *Pods {
	p := NewPods(context.Background(), PodsConfig{
		NodeName: "vk-node", HostIP: net.ParseIP("10.0.0.1"),
		Runtime: n.rt, Images: n.images, Sandboxes: n.sandboxes, Volumes: n.volumes,
		PodDirs: poddir.Root(n.t.TempDir()), Clock: n.clock, Client: n.client, Recorder: n.recorder,
	})
	p.NotifyPods(context.Background(), func(pod *corev1.Pod) {
		n.mu.Lock()
		n.published = append(n.published, pod)
		n.mu.Unlock()
	})
	return p
}

// worker adds pod to the API and gives the provider a worker for it, but
// runs no goroutine: the test drives it with settle.
func (n *fakeNode) worker(p *Pods, pod *corev1.Pod) *worker {
	n.t.Helper()
	if _, err := n.client.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metaCreate); err != nil && !strings.Contains(err.Error(), "already exists") {
		n.t.Fatal(err)
	}
	w := newWorker(p, pod)
	p.mu.Lock()
	p.workers[pod.UID] = w
	p.byName[nameKey(pod.Namespace, pod.Name)] = pod.UID
	p.mu.Unlock()
	return w
}

// settle runs passes while the worker asks for another one at once (a
// kick), as its goroutine would, and returns the wake of the last pass.
func (n *fakeNode) settle(w *worker) time.Duration {
	n.t.Helper()
	for i := 0; i < 50; i++ {
		wake := w.sync(context.Background())
		if w.state == stateGone {
			w.p.forget(w)
			return wake
		}
		select {
		case <-w.kickc:
			continue
		default:
		}
		return wake
	}
	n.t.Fatalf("pod %s did not settle in 50 passes (state %s)", w.name, w.state)
	return 0
}

// last is the status published last for the pod.
func (n *fakeNode) last() corev1.PodStatus {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.published) == 0 {
		n.t.Fatal("no status published")
	}
	return n.published[len(n.published)-1].Status
}

// publishedPhases lists the phases of the published statuses, repeats merged.
func (n *fakeNode) publishedPhases() []corev1.PodPhase {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []corev1.PodPhase
	for _, p := range n.published {
		if len(out) == 0 || out[len(out)-1] != p.Status.Phase {
			out = append(out, p.Status.Phase)
		}
	}
	return out
}
