// Package podspec holds the OCI spec options that turn a container of a pod
// into a containerd container: the pod's namespaces, the command as the
// kubelet merges it with the image, env, mounts, user and resources. Each
// option works on a bare spec, so each can be tested without containerd.
package podspec

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Option changes a container's OCI spec. It is containerd's oci.SpecOpts,
// named here so that callers of this package need not import containerd.
type Option = oci.SpecOpts

// WithAnnotations adds annotations to the spec (the runc shim reads its
// group from one).
func WithAnnotations(a map[string]string) Option { return oci.WithAnnotations(a) }

// WithTTY gives the container's process a terminal.
func WithTTY() Option { return oci.WithTTY }

// WithCommand sets the process args the way the kubelet merges a container's
// command and args with the image's Entrypoint and Cmd:
// command replaces Entrypoint and drops Cmd; args replace Cmd.
func WithCommand(img imagespec.ImageConfig, command, args []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		argv := Command(img, command, args)
		if len(argv) == 0 {
			return fmt.Errorf("no command specified: the image has no Entrypoint or Cmd and the container sets none")
		}
		ensureProcess(s)
		s.Process.Args = argv
		return nil
	}
}

// Command returns the argv of a container (see WithCommand).
func Command(img imagespec.ImageConfig, command, args []string) []string {
	var argv []string
	if len(command) > 0 {
		argv = append(argv, command...)
	} else {
		argv = append(argv, img.Entrypoint...)
	}
	switch {
	case len(args) > 0:
		argv = append(argv, args...)
	case len(command) == 0:
		argv = append(argv, img.Cmd...)
	}
	return argv
}

// WithEnv sets the environment: the image's, then the container's, a later
// value of the same name replacing an earlier one in place.
func WithEnv(img imagespec.ImageConfig, env []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		s.Process.Env = MergeEnv(img.Env, env)
		return nil
	}
}

// MergeEnv merges NAME=value lists; later names replace earlier ones in place.
func MergeEnv(lists ...[]string) []string {
	var out []string
	index := map[string]int{}
	for _, list := range lists {
		for _, kv := range list {
			name, _, _ := strings.Cut(kv, "=")
			if i, ok := index[name]; ok {
				out[i] = kv
				continue
			}
			index[name] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// WithWorkingDir sets the process's cwd: the container's, else the image's, else /.
func WithWorkingDir(img imagespec.ImageConfig, dir string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		switch {
		case dir != "":
			s.Process.Cwd = dir
		case img.WorkingDir != "":
			s.Process.Cwd = img.WorkingDir
		default:
			s.Process.Cwd = "/"
		}
		return nil
	}
}

// WithJoinedNamespaces makes the container join the pod's pinned namespaces.
// An empty path keeps the host's namespace of that kind (hostNetwork).
func WithJoinedNamespaces(netPath, ipcPath, utsPath string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		set := map[specs.LinuxNamespaceType]string{
			specs.NetworkNamespace: netPath,
			specs.IPCNamespace:     ipcPath,
			specs.UTSNamespace:     utsPath,
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		var out []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if _, ours := set[ns.Type]; !ours {
				out = append(out, ns)
			}
		}
		for _, t := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace} {
			if p := set[t]; p != "" {
				out = append(out, specs.LinuxNamespace{Type: t, Path: p})
			}
		}
		s.Linux.Namespaces = out
		return nil
	}
}

// WithOOMScoreAdj sets the container's oom_score_adj, raised to the agent's
// own value if lower: the kernel refuses a lower one to an unprivileged
// process, and containerd's CRI does the same (restrict_oom_score_adj).
func WithOOMScoreAdj(adj int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		ensureProcess(s)
		if own, err := OwnOOMScoreAdj(); err == nil && adj < own {
			adj = own
		}
		s.Process.OOMScoreAdj = &adj
		return nil
	}
}

// OwnOOMScoreAdj reads the agent's own oom_score_adj.
func OwnOOMScoreAdj() (int, error) {
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// Mount is a bind mount into the container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// WithMounts adds bind mounts, replacing any mount of the spec at the same destination.
func WithMounts(mounts []Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, m := range mounts {
			opts := []string{"rbind", "rprivate"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			} else {
				opts = append(opts, "rw")
			}
			kept := s.Mounts[:0]
			for _, existing := range s.Mounts {
				if existing.Destination != m.Destination {
					kept = append(kept, existing)
				}
			}
			s.Mounts = append(kept, specs.Mount{Destination: m.Destination, Source: m.Source, Type: "bind", Options: opts})
		}
		return nil
	}
}

func ensureProcess(s *oci.Spec) {
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
}

// WithPIDNamespace makes the container join the PID namespace at path (an
// ephemeral container that targets another container sees its processes).
func WithPIDNamespace(path string) oci.SpecOpts {
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: path})
}
