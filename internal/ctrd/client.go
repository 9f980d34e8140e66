// Package ctrd is the agent's adapter to the containerd daemon: it
// connects, reports the daemon's version and health, and (in other files)
// manages the images, containers and tasks that realize pods.
package ctrd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// DefaultAddress is containerd's default socket.
const DefaultAddress = "/run/containerd/containerd.sock"

// reconnectDelay bounds gRPC's reconnect backoff, so the node notices a
// restarted containerd within a few seconds.
const reconnectDelay = 2 * time.Second

// Runtime is a connection to one containerd daemon, scoped to one containerd
// namespace that holds every object the agent creates.
type Runtime struct {
	client    *client.Client
	address   string
	namespace string
	fifoDir   string // exec FIFOs; empty: containerd's default
}

// SetExecFIFODir puts the FIFOs of exec'd processes in dir. The shim opens
// them by path, so when the agent runs in a container the directory must be
// at the same path on the host: the agent's root is, containerd's default
// /run/containerd/fifo may not be.
func (r *Runtime) SetExecFIFODir(dir string) { r.fifoDir = dir }

// Connect checks that address is a socket and opens a client for namespace.
// It does not wait for the daemon to answer: use Version for that.
func Connect(address, namespace string) (*Runtime, error) {
	address = strings.TrimPrefix(address, "unix://")
	info, err := os.Stat(address)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("containerd socket %s does not exist: start containerd or point --containerd-address at its socket", address)
	case err != nil:
		return nil, fmt.Errorf("containerd socket %s: %w", address, err)
	case info.Mode()&fs.ModeSocket == 0:
		return nil, fmt.Errorf("containerd address %s is not a socket: point --containerd-address at containerd's socket", address)
	}
	if namespace == "" {
		return nil, errors.New("containerd namespace is empty: set --containerd-namespace")
	}
	c, err := client.New(address, client.WithDefaultNamespace(namespace), client.WithTimeout(reconnectDelay))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	return &Runtime{client: c, address: address, namespace: namespace}, nil
}

// Version asks the daemon for its version, as "containerd://<version>", the
// form a node reports as its container runtime.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd at %s does not answer: %w", r.address, err)
	}
	return "containerd://" + strings.TrimPrefix(v.Version, "v"), nil
}

// Healthy returns nil when the daemon's health service says it is serving.
func (r *Runtime) Healthy(ctx context.Context) error {
	serving, err := r.client.IsServing(ctx)
	if err != nil {
		return fmt.Errorf("containerd at %s is unreachable: %w", r.address, err)
	}
	if !serving {
		return fmt.Errorf("containerd at %s is not serving", r.address)
	}
	return nil
}

// Close closes the connection.
func (r *Runtime) Close() error { return r.client.Close() }
