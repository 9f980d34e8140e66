package podspec

import (
	"context"
	"reflect"
	"testing"

	"github.com/containerd/containerd/v2/pkg/oci"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCommand(t *testing.T) {
	img := imagespec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"default"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image only", nil, nil, []string{"/entry", "default"}},
		{"args replace Cmd", nil, []string{"a"}, []string{"/entry", "a"}},
		{"command drops Cmd", []string{"/bin/x"}, nil, []string{"/bin/x"}},
		{"command and args", []string{"/bin/x"}, []string{"a", "b"}, []string{"/bin/x", "a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Command(img, tc.command, tc.args); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Command = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWithCommandRejectsEmpty(t *testing.T) {
	s := &oci.Spec{}
	if err := WithCommand(imagespec.ImageConfig{}, nil, nil)(context.Background(), nil, nil, s); err == nil {
		t.Fatal("no error for a container with no command at all")
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	want := []string{"PATH=/bin", "A=2", "B=3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("MergeEnv = %v, want %v", got, want)
	}
}

func TestWithJoinedNamespaces(t *testing.T) {
	s := &oci.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.MountNamespace}, {Type: specs.UTSNamespace}, {Type: specs.IPCNamespace},
	}}}
	if err := WithJoinedNamespaces("/ns/net", "/ns/ipc", "/ns/uts")(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	got := map[specs.LinuxNamespaceType]string{}
	for _, ns := range s.Linux.Namespaces {
		got[ns.Type] = ns.Path
	}
	want := map[specs.LinuxNamespaceType]string{
		specs.PIDNamespace: "", specs.MountNamespace: "",
		specs.NetworkNamespace: "/ns/net", specs.IPCNamespace: "/ns/ipc", specs.UTSNamespace: "/ns/uts",
	}
	if !reflect.DeepEqual(got, want) || len(s.Linux.Namespaces) != 5 {
		t.Fatalf("namespaces = %v, want %v", s.Linux.Namespaces, want)
	}

	// hostNetwork: no network namespace entry at all, so the host's is used.
	s = &oci.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}}}
	if err := WithJoinedNamespaces("", "/ns/ipc", "/ns/uts")(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Fatalf("hostNetwork spec still has a network namespace: %v", s.Linux.Namespaces)
		}
	}
}

func TestWithOOMScoreAdjClamps(t *testing.T) {
	own, err := OwnOOMScoreAdj()
	if err != nil {
		t.Fatalf("read the test's own oom_score_adj: %v", err)
	}
	s := &oci.Spec{}
	if err := WithOOMScoreAdj(-1000)(context.Background(), nil, nil, s); err != nil {
		t.Fatal(err)
	}
	if *s.Process.OOMScoreAdj < own {
		t.Fatalf("oom_score_adj %d is below the agent's own %d", *s.Process.OOMScoreAdj, own)
	}
}

func TestWithMountsReplacesDestination(t *testing.T) {
	s := &oci.Spec{Mounts: []specs.Mount{{Destination: "/etc/hosts", Source: "old"}, {Destination: "/proc", Type: "proc"}}}
	err := WithMounts([]Mount{{Source: "/pod/hosts", Destination: "/etc/hosts"}, {Source: "/v", Destination: "/data", ReadOnly: true}})(context.Background(), nil, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Mounts) != 3 {
		t.Fatalf("mounts = %v", s.Mounts)
	}
	for _, m := range s.Mounts {
		if m.Destination == "/etc/hosts" && m.Source != "/pod/hosts" {
			t.Fatalf("/etc/hosts not replaced: %v", m)
		}
		if m.Destination == "/data" && m.Options[2] != "ro" {
			t.Fatalf("/data not read-only: %v", m.Options)
		}
	}
}
