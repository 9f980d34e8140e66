package provider

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/cni"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/probe"
)

// probeUserAgent is what HTTP probes send, as the kubelet of this minor.
const probeUserAgent = "kube-probe/1.37"

// prober runs the startup, liveness and readiness probes of one running
// attempt of a container and keeps their results for the pod's status.
type prober struct {
	id     string // the containerd id of the attempt
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool // the startup probe succeeded, or there is none
	ready   bool // the readiness probe succeeds, or there is none
}

func (pr *prober) results() (started, ready bool) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.started, pr.started && pr.ready
}

// set changes a result and reports whether it changed.
func (pr *prober) set(field *bool, v bool) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	changed := *field != v
	*field = v
	return changed
}

// syncProbers gives each running container (app or sidecar) a prober for its
// current attempt, and stops those of attempts that no longer run.
func (w *worker) syncProbers(ctx context.Context, pod *corev1.Pod) {
	want := map[string]bool{}
	probed := func(c *corev1.Container) {
		want[c.Name] = true
		r, pr := w.records[c.Name], w.probers[c.Name]
		if r == nil || !r.running() {
			w.stopProber(c.Name)
			return
		}
		if pr != nil && pr.id == r.current.ID {
			return
		}
		w.stopProber(c.Name)
		w.probers[c.Name] = w.startProber(ctx, pod, c, *r.current)
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			probed(c)
		}
	}
	for i := range pod.Spec.Containers {
		probed(&pod.Spec.Containers[i])
	}
	for name := range w.probers {
		if !want[name] {
			w.stopProber(name)
		}
	}
}

func (w *worker) stopProber(name string) {
	if pr := w.probers[name]; pr != nil {
		pr.cancel()
		delete(w.probers, name)
	}
}

func (w *worker) stopProbers() {
	for name := range w.probers {
		w.stopProber(name)
	}
}

// initialResults are a new attempt's results before any probe ran: started
// without a startup probe, ready without a readiness probe.
func initialResults(c *corev1.Container) (started, ready bool) {
	return c.StartupProbe == nil, c.ReadinessProbe == nil
}

func (w *worker) startProber(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur ctrd.ContainerStatus) *prober {
	ctx, cancel := context.WithCancel(ctx)
	pr := &prober{id: cur.ID, cancel: cancel}
	pr.started, pr.ready = initialResults(c)
	t := w.probeTarget(pod, c, cur.ID)
	c = c.DeepCopy()
	go func() {
		if c.StartupProbe != nil {
			if !w.probeLoop(ctx, pod, c, cur, "Startup", c.StartupProbe, t, false, func(ok bool) bool {
				if !ok {
					w.requestKill(cur.ID, fmt.Sprintf("Container %s failed startup probe, will be restarted", c.Name), c.StartupProbe)
					return true
				}
				if pr.set(&pr.started, true) {
					w.kick()
				}
				return true
			}) {
				return
			}
			pr.mu.Lock()
			started := pr.started
			pr.mu.Unlock()
			if !started {
				return
			}
		}
		if c.ReadinessProbe != nil {
			go w.probeLoop(ctx, pod, c, cur, "Readiness", c.ReadinessProbe, t, false, func(ok bool) bool {
				if pr.set(&pr.ready, ok) {
					w.kick()
				}
				return false
			})
		}
		if c.LivenessProbe != nil {
			w.probeLoop(ctx, pod, c, cur, "Liveness", c.LivenessProbe, t, true, func(ok bool) bool {
				if !ok {
					w.requestKill(cur.ID, fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name), c.LivenessProbe)
				}
				return !ok
			})
		}
	}()
	return pr
}

// probeLoop runs p every period once its initial delay after the start has
// passed, and calls report when the result settles to a new value: healthy
// after successThreshold successes in a row, unhealthy after
// failureThreshold failures. It starts from initial. It returns true when
// report asked to stop, false when ctx ended.
func (w *worker) probeLoop(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur ctrd.ContainerStatus, kind string, p *corev1.Probe, t probe.Target, initial bool, report func(ok bool) bool) bool {
	period := secondsOr(p.PeriodSeconds, 10)
	timeout := secondsOr(p.TimeoutSeconds, 1)
	successes, failures := max(int(p.SuccessThreshold), 1), max(int(p.FailureThreshold), 1)
	start := cur.StartedAt
	if start.IsZero() {
		start = time.Now()
	}
	wait := time.Until(start.Add(time.Duration(p.InitialDelaySeconds) * time.Second))
	result, okRun, failRun := initial, 0, 0
	first := true
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(max(wait, 0)):
		}
		wait = period
		t0 := time.Now()
		err := probe.Check(ctx, p.ProbeHandler, t, timeout)
		if ctx.Err() != nil {
			return false
		}
		w.p.probeMetrics.observe(pod, c, kind, err, time.Since(t0))
		if err == nil {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
			w.event(pod, corev1.EventTypeWarning, eventUnhealthy, "%s probe failed: %v", kind, err)
			log.G(ctx).WithField("container", c.Name).WithError(err).Debugf("%s probe failed", kind)
		}
		switch {
		case err == nil && okRun >= successes && (!result || first):
			result = true
		case err != nil && failRun >= failures && (result || first):
			result = false
		default:
			continue
		}
		first = false
		if report(result) {
			return true
		}
	}
}

func secondsOr(s int32, def int) time.Duration {
	if s <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(s) * time.Second
}

// requestKill asks the worker to stop attempt id, for a failed probe.
func (w *worker) requestKill(id, message string, p *corev1.Probe) {
	w.mu.Lock()
	w.kills[id] = killRequest{message: message, grace: p.TerminationGracePeriodSeconds}
	w.mu.Unlock()
	w.kick()
}

type killRequest struct {
	message string
	grace   *int64 // the probe's own grace period, if set
}

// takeKill returns and forgets the kill request for attempt id.
func (w *worker) takeKill(id string) (killRequest, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, ok := w.kills[id]
	delete(w.kills, id)
	return k, ok
}

// probeTarget is what the probes and hooks of container c (attempt id) run against.
func (w *worker) probeTarget(pod *corev1.Pod, c *corev1.Container, id string) probe.Target {
	t := probe.Target{
		Ports:     c.Ports,
		UserAgent: probeUserAgent,
		Dial:      w.dialPod,
		Exec: func(ctx context.Context, cmd []string, out io.Writer) (int, error) {
			sw := &syncWriter{w: out}
			return w.p.cfg.Runtime.Exec(ctx, id, cmd, ctrd.ExecIO{Stdout: sw, Stderr: sw})
		},
	}
	switch {
	case pod.Spec.HostNetwork:
		t.PodIP = w.p.cfg.HostIP.String()
	case w.sb != nil && len(w.sb.IPs) > 0:
		t.PodIP = w.sb.IPs[0].String()
	}
	return t
}

// dialPod opens a TCP connection to addr from the pod's network namespace
// (the node's, for a hostNetwork pod).
func (w *worker) dialPod(ctx context.Context, addr string) (net.Conn, error) {
	w.mu.Lock()
	hostNetwork := w.pod.Spec.HostNetwork
	w.mu.Unlock()
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	if hostNetwork {
		return (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	}
	return cni.DialInNamespace(cni.NamespacesIn(w.dir.Namespaces()).Net, addr, timeout)
}

// syncWriter serializes the writes of an exec's stdout and stderr copiers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
