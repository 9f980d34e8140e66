package provider

import (
	"context"
	"net/url"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/podspec"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
)

// The provider's view of the systems it drives, one small interface each,
// declared here where they are used. internal/ctrd, internal/sandbox and
// internal/volumes implement them; the tests use fakes.

// containers creates, starts, stops and removes the containers of pods.
type containers interface {
	ListContainers(ctx context.Context, filters ...string) ([]ctrd.ContainerStatus, error)
	CreateContainer(ctx context.Context, id string, img ctrd.Image, labels map[string]string, opts ...podspec.Option) error
	StartContainer(ctx context.Context, id string, logURI *url.URL) (uint32, error)
	SignalContainer(ctx context.Context, id string, sig syscall.Signal) error
	RemoveContainer(ctx context.Context, id string) error
	SetContainerLabels(ctx context.Context, id string, labels map[string]string) error
	UpdateResources(ctx context.Context, id string, res *specs.LinuxResources) error
	MountImageView(ctx context.Context, img ctrd.Image, key, target, hostRoot string) error
	ActiveSnapshots(ctx context.Context) ([]string, error)
	RemoveSnapshot(ctx context.Context, key string) error
}

// containerIO runs processes in containers and holds the streams of those
// that keep stdin open.
type containerIO interface {
	Status(ctx context.Context, id string) (ctrd.ContainerStatus, error)
	Exec(ctx context.Context, id string, args []string, eio ctrd.ExecIO) (int, error)
	StartContainerStreams(ctx context.Context, id string, s ctrd.Streams) (uint32, func(), error)
	AttachStreams(ctx context.Context, id string, s ctrd.Streams) (func(), error)
	CloseStdin(ctx context.Context, id string) error
	ResizeTTY(ctx context.Context, id string, width, height uint16) error
}

// Runtime is the container runtime as the provider uses it: containers,
// their IO, their exits and their resource usage. *ctrd.Runtime is one.
type Runtime interface {
	containers
	containerIO
	Exits(ctx context.Context) (<-chan string, <-chan error)
	TaskUsages(ctx context.Context) (map[string]ctrd.TaskUsage, error)
	ContainerInfos(ctx context.Context) (map[string]ctrd.ContainerInfo, error)
}

// Images finds and pulls images. *ctrd.Images is one.
type Images interface {
	Get(ctx context.Context, ref string) (ctrd.Image, error)
	Pull(ctx context.Context, ref string, creds ctrd.Credentials) (ctrd.Image, time.Duration, error)
}

// Sandboxes builds and releases what a pod's containers share. *sandbox.Manager is one.
type Sandboxes interface {
	Ensure(ctx context.Context, pod *corev1.Pod) (*sandbox.Sandbox, error)
	Remove(ctx context.Context, pod *corev1.Pod) error
	Leftovers() ([]string, error)
}

// Volumes materializes pod volumes. *volumes.Manager is one.
type Volumes interface {
	Prepare(ctx context.Context, pod *corev1.Pod) (map[string]string, error)
	Refresh(ctx context.Context, pod *corev1.Pod) (time.Time, error)
	Cleanup(podUID string) error
}

// Clock tells the time; tests set it.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

var (
	_ Runtime   = (*ctrd.Runtime)(nil)
	_ Images    = (*ctrd.Images)(nil)
	_ Sandboxes = (*sandbox.Manager)(nil)
)
