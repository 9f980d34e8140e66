package ctrd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runtimeName is the shim every container runs under.
const runtimeName = "io.containerd.runc.v2"

// State is where a container is in its life.
type State int

// Container states.
const (
	StateCreated State = iota // created, task never started
	StateRunning
	StateExited
	StateUnknown
)

// ContainerStatus is what containerd knows of one container.
type ContainerStatus struct {
	ID         string
	Labels     map[string]string
	Image      string
	State      State
	Pid        uint32
	ExitCode   uint32
	StartedAt  time.Time
	FinishedAt time.Time
	CreatedAt  time.Time
}

// CreateContainer creates a container with a fresh snapshot of img and a spec
// built by opts; labels identify it. A failure leaves nothing behind; its
// error wraps ErrExists when id is taken, ErrCreate otherwise. Once the
// snapshot is asked for, ctx's end (the pod deleted meanwhile) does not cut
// the creation short: the client's lease and the snapshot it prepared would
// outlive a cancelled request, and nothing would own them.
func (r *Runtime) CreateContainer(ctx context.Context, id string, image Image, labels map[string]string, opts ...oci.SpecOpts) error {
	img := image.handle
	if img == nil {
		var err error
		if img, err = r.client.GetImage(ctx, image.Ref); err != nil {
			return classify(ErrCreate, err)
		}
	}
	specOpts := append([]oci.SpecOpts{oci.WithImageConfig(img)}, opts...)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	create := func() error {
		_, err := r.client.NewContainer(ctx, id,
			client.WithImage(img),
			client.WithNewSnapshot(id, img),
			client.WithRuntime(runtimeName, nil),
			client.WithContainerLabels(labels),
			client.WithImageStopSignal(img, "SIGTERM"),
			client.WithNewSpec(specOpts...),
		)
		return err
	}
	err := create()
	if errdefs.IsAlreadyExists(err) {
		// The snapshot exists but perhaps no container: an agent killed
		// between the two left it. Only a container that exists is one.
		if _, lerr := r.client.LoadContainer(ctx, id); !errdefs.IsNotFound(lerr) {
			return classify(ErrExists, err)
		}
		if rerr := r.client.SnapshotService("").Remove(ctx, id); rerr != nil && !errdefs.IsNotFound(rerr) {
			return classify(ErrCreate, fmt.Errorf("remove the snapshot a creation cut short left: %w", rerr))
		}
		err = create()
	}
	if errdefs.IsAlreadyExists(err) {
		return classify(ErrExists, err)
	}
	if err != nil {
		_ = r.client.SnapshotService("").Remove(ctx, id)
		return classify(ErrCreate, err)
	}
	return nil
}

// StartContainer creates and starts the container's task, with its stdout
// and stderr handed to the log URI (a file, or a log driver binary that the
// shim runs), so output is kept while the agent is down. It returns the
// task's pid. Its errors wrap ErrStart.
func (r *Runtime) StartContainer(ctx context.Context, id string, logURI *url.URL) (uint32, error) {
	task, err := r.startTask(ctx, id, cio.LogURI(logURI))
	if err != nil {
		return 0, err
	}
	return task.Pid(), nil
}

// startTask creates the container's task with the IO of ioc, starts it and
// records the start time.
func (r *Runtime) startTask(ctx context.Context, id string, ioc cio.Creator) (client.Task, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, classify(ErrStart, err)
	}
	task, err := c.NewTask(ctx, ioc)
	if err != nil {
		return nil, classify(ErrStart, err)
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, client.WithProcessKill)
		return nil, classify(ErrStart, err)
	}
	if _, err := c.SetLabels(ctx, map[string]string{LabelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return task, fmt.Errorf("record start time: %w", err)
	}
	return task, nil
}

// Status reads one container's state from containerd.
func (r *Runtime) Status(ctx context.Context, id string) (ContainerStatus, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return ContainerStatus{}, err
	}
	return r.status(ctx, c)
}

func (r *Runtime) status(ctx context.Context, c client.Container) (ContainerStatus, error) {
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return ContainerStatus{}, err
	}
	st := ContainerStatus{ID: c.ID(), Labels: info.Labels, Image: info.Image, CreatedAt: info.CreatedAt, State: StateCreated}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[LabelStartedAt]); err == nil {
		st.StartedAt = t
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	ts, err := task.Status(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return st, nil
		}
		return st, err
	}
	st.Pid = task.Pid()
	switch ts.Status {
	case client.Running, client.Paused, client.Pausing:
		st.State = StateRunning
	case client.Stopped:
		st.State, st.ExitCode, st.FinishedAt = StateExited, ts.ExitStatus, ts.ExitTime
	case client.Created:
		st.State = StateCreated
	default:
		st.State = StateUnknown
	}
	return st, nil
}

// ListContainers returns every container whose labels match filters
// (containerd filter syntax, e.g. `labels."io.vk-containerd.pod.uid"==abc`).
func (r *Runtime) ListContainers(ctx context.Context, filters ...string) ([]ContainerStatus, error) {
	cs, err := r.client.Containers(ctx, filters...)
	if err != nil {
		return nil, err
	}
	out := make([]ContainerStatus, 0, len(cs))
	for _, c := range cs {
		st, err := r.status(ctx, c)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// ActiveSnapshots lists the keys of the namespace's active snapshots and
// views: the root filesystem of each container, keyed by its id, any that a
// creation cut short by a failing containerd left without a container, and
// the views of image volumes.
func (r *Runtime) ActiveSnapshots(ctx context.Context) ([]string, error) {
	var keys []string
	err := r.client.SnapshotService("").Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive || info.Kind == snapshots.KindView {
			keys = append(keys, info.Name)
		}
		return nil
	})
	return keys, err
}

// RemoveSnapshot removes one active snapshot or view; removing what is
// gone is not an error.
func (r *Runtime) RemoveSnapshot(ctx context.Context, key string) error {
	if err := r.client.SnapshotService("").Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove snapshot %s: %w", key, err)
	}
	return nil
}

// PodFilter selects the containers of one pod.
func PodFilter(podUID string) string {
	return fmt.Sprintf("labels.%q==%q", LabelPodUID, podUID)
}

// SignalContainer sends sig to the container's process; sig 0 means the
// image's stop signal (SIGTERM by default). A container with no running task
// is left as is. It does not wait: waiting on many tasks of one shim at once
// is what the caller avoids by polling Status.
func (r *Runtime) SignalContainer(ctx context.Context, id string, sig syscall.Signal) error {
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if sig == 0 {
		if sig, err = client.GetStopSignal(ctx, c, syscall.SIGTERM); err != nil {
			sig = syscall.SIGTERM
		}
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return fmt.Errorf("signal %v to %s: %w", sig, id, err)
	}
	return nil
}

// removeTimeout bounds one container's creation or removal, which go on
// past the end of the context that asked for them.
const removeTimeout = time.Minute

// RemoveContainer deletes the container's task (killing it if it still runs),
// the container and its snapshot. Removing what is gone is not an error.
// A removal, once begun, is not cut short by ctx's end (the agent shutting
// down): a task delete cancelled half-way can leave its shim behind.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of %s: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

// SetContainerLabels merges labels into the container's labels.
func (r *Runtime) SetContainerLabels(ctx context.Context, id string, labels map[string]string) error {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	_, err = c.SetLabels(ctx, labels)
	return err
}

// Exits streams the ids of containers whose init process exited, from
// containerd's event stream, and marks the containers that the kernel's
// OOM killer hit (OOMKilled). The channel closes when ctx ends; a broken
// stream is reported on errs and the caller subscribes again.
func (r *Runtime) Exits(ctx context.Context) (<-chan string, <-chan error) {
	out := make(chan string, 64)
	errs := make(chan error, 1)
	events, serr := r.client.Subscribe(ctx,
		fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, r.namespace),
		fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, r.namespace))
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-serr:
				if err != nil && ctx.Err() == nil {
					errs <- err
				}
				return
			case e := <-events:
				if e == nil || e.Event == nil {
					continue
				}
				var id string
				var err error
				if e.Topic == "/tasks/oom" {
					if id, err = oomContainer(e.Event.GetValue()); err == nil {
						err = r.SetContainerLabels(ctx, id, map[string]string{LabelOOMKilled: "true"})
					}
				} else {
					id, err = exitedContainer(e.Event.GetValue())
				}
				if err != nil {
					continue
				}
				select {
				case out <- id:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errs
}

// Attempt parses the attempt label of a container. A value that is not a
// count (missing, not a number, negative) is read as 0, the first attempt:
// a negative restart count would reach the pod's status.
func Attempt(labels map[string]string) int {
	n, err := strconv.Atoi(labels[LabelAttempt])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

var errNotExit = errors.New("not a task exit of an init process")

// UpdateResources sets the cgroup of the container's running task to res:
// an in-place resize, which runc applies without restarting the process.
func (r *Runtime) UpdateResources(ctx context.Context, id string, res *specs.LinuxResources) error {
	task, err := r.task(ctx, id)
	if err != nil {
		return err
	}
	return task.Update(ctx, client.WithResources(res))
}
