package provider

import (
	"context"
	"io"
	"sort"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// GetContainerLogs streams a container's log, as `kubectl logs` asks for it.
// It reads containerd (not the worker's records) to find the attempt, so it
// never races the pod's worker.
func (p *Pods) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	w := p.worker(namespace, podName)
	if w == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, podName)
	}
	if w.containerSpec(containerName) == nil {
		return nil, errdefs.InvalidInputf("container %q is not valid for pod %q", containerName, podName)
	}
	cs, err := p.cfg.Runtime.ListContainers(ctx, ctrd.PodFilter(string(w.uid)))
	if err != nil {
		return nil, err
	}
	var attempts []ctrd.ContainerStatus
	for _, c := range cs {
		if c.Labels[ctrd.LabelContainerName] == containerName {
			attempts = append(attempts, c)
		}
	}
	sort.Slice(attempts, func(i, j int) bool {
		return ctrd.Attempt(attempts[i].Labels) > ctrd.Attempt(attempts[j].Labels)
	})
	pick := 0
	if opts.Previous {
		pick = 1
	}
	if len(attempts) <= pick {
		if opts.Previous {
			return nil, errdefs.InvalidInputf("previous terminated container %q in pod %q not found", containerName, podName)
		}
		return nil, errdefs.InvalidInputf("container %q in pod %q is waiting to start: %s", containerName, podName, w.waitingReasonOf(containerName))
	}
	c := attempts[pick]
	path := w.dir.Log(containerName, ctrd.Attempt(c.Labels))
	ro := crilog.Options{Tail: -1, LimitBytes: int64(opts.LimitBytes), Timestamps: opts.Timestamps, Follow: opts.Follow && pick == 0}
	if opts.Tail > 0 {
		ro.Tail = opts.Tail
	}
	switch {
	case !opts.SinceTime.IsZero():
		ro.Since = opts.SinceTime
	case opts.SinceSeconds > 0:
		ro.Since = time.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
	}
	exited := func() bool {
		st, err := p.cfg.Runtime.Status(ctx, c.ID)
		return err != nil || st.State != ctrd.StateRunning
	}
	pr, pw := io.Pipe()
	go func() {
		err := crilog.ReadLogs(ctx, path, ro, pw, exited)
		if crilog.IsLimit(err) {
			err = nil
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// containerSpec returns a copy of the spec of the pod's (init) container
// name, or nil.
func (w *worker) containerSpec(name string) *corev1.Container {
	w.mu.Lock()
	defer w.mu.Unlock()
	return specOf(w.pod, name).DeepCopy()
}

// waitingReasonOf reads a container's waiting reason from the last status.
func (w *worker) waitingReasonOf(name string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cs := range append(append(w.status.InitContainerStatuses[:0:0], w.status.InitContainerStatuses...), w.status.ContainerStatuses...) {
		if cs.Name == name && cs.State.Waiting != nil {
			return cs.State.Waiting.Reason
		}
	}
	return ReasonContainerCreating
}
