package podspec

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// specInput is what FuzzSpec decodes its input into: the parts of a pod and
// its image that the options of this package translate.
type specInput struct {
	Image     imagespec.ImageConfig      `json:"image"`
	Container corev1.Container           `json:"container"`
	Pod       *corev1.PodSecurityContext `json:"pod"`
}

// FuzzSpec applies the package's options, as the provider does, to
// containerd's default spec and checks the spec against the kubelet's rules
// for each part: argv, env, cwd, mounts, user and groups, capabilities,
// seccomp, sysctls and cgroup resources.
func FuzzSpec(f *testing.F) {
	for _, seed := range []string{
		`{"image":{"Entrypoint":["/entry"],"Cmd":["default"],"Env":["PATH=/bin","A=1"],"WorkingDir":"/app"},
		  "container":{"args":["x"],"env":[{"name":"A","value":"2"},{"name":"A","value":"3"},{"name":"B"}],
		  "resources":{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"cpu":"500m","memory":"128Mi"}}}}`,
		`{"container":{"command":["/bin/sh"],"workingDir":"/w","volumeMounts":[{"name":"/a","mountPath":"/etc/hosts"},{"name":"/b","mountPath":"/etc/hosts","readOnly":true}]}}`,
		`{"image":{"Cmd":["run"]},"container":{"securityContext":{"runAsUser":1000,"runAsGroup":3000,"allowPrivilegeEscalation":false,
		  "capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]},"seccompProfile":{"type":"RuntimeDefault"}}},
		  "pod":{"supplementalGroups":[4000,4000],"fsGroup":2000,"sysctls":[{"name":"net/ipv4/tcp_syncookies","value":"1"},{"name":"net.ipv4.tcp_syncookies","value":"0"}]}}`,
		`{"image":{"Cmd":["run"]},"container":{"securityContext":{"privileged":true,"capabilities":{"add":["ALL"],"drop":["chown"]}}}}`,
		`{"image":{"Cmd":["run"]},"container":{"securityContext":{"seccompProfile":{"type":"Localhost","localhostProfile":"../../etc/shadow"}}}}`,
		`{"image":{"Cmd":["run"]},"container":{"resources":{"requests":{"cpu":"-1"},"limits":{"cpu":"100000000000","memory":"-1"}}}}`,
		`{"image":{"Cmd":["run"]},"container":{"resources":{"limits":{"cpu":"1m"}}},"pod":{"runAsGroup":5}}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		var in specInput
		if json.Unmarshal(data, &in) != nil {
			return
		}
		img, c := in.Image, in.Container

		argv := Command(img, c.Command, c.Args)
		want := slices.Concat(img.Entrypoint, img.Cmd)
		switch {
		case len(c.Command) > 0:
			want = slices.Concat(c.Command, c.Args)
		case len(c.Args) > 0:
			want = slices.Concat(img.Entrypoint, c.Args)
		}
		if !slices.Equal(argv, want) {
			t.Fatalf("Command(%v, %q, %q) = %q, want %q", img, c.Command, c.Args, argv, want)
		}

		var env []string
		for _, e := range c.Env {
			env = append(env, e.Name+"="+e.Value)
		}
		checkMergeEnv(t, img.Env, env)

		ctx := namespaces.WithNamespace(context.Background(), "fuzz")
		ctr := &containers.Container{ID: "fuzz"}
		s, err := oci.GenerateSpec(ctx, nil, ctr)
		if err != nil {
			t.Fatal(err)
		}
		s.Root.Path = root // an empty image: no /etc/passwd or /etc/group
		defaultMounts := len(s.Mounts)
		var mounts []Mount
		for _, m := range c.VolumeMounts {
			mounts = append(mounts, Mount{Source: m.Name, Destination: m.MountPath, ReadOnly: m.ReadOnly})
		}
		opts := []Option{WithCommand(img, c.Command, c.Args), WithEnv(img, env), WithWorkingDir(img, c.WorkingDir), WithMounts(mounts)}
		opts = append(opts, WithSecurity(in.Pod, c.SecurityContext)...)
		opts = append(opts, WithSysctls(in.Pod), WithSeccomp(in.Pod, c.SecurityContext, root), WithResources(c.Resources))
		err = oci.ApplyOpts(ctx, nil, ctr, s, opts...)
		if len(argv) == 0 || badLocalhostProfile(in.Pod, c.SecurityContext) {
			if err == nil {
				t.Fatalf("no error for %s", data)
			}
			return
		}
		if err != nil {
			// A Localhost profile that is not there is the one error left.
			if p := seccompProfile(in.Pod, c.SecurityContext); p != nil && p.Type == corev1.SeccompProfileTypeLocalhost {
				return
			}
			t.Fatalf("%s: %v", data, err)
		}

		if !slices.Equal(s.Process.Args, argv) {
			t.Fatalf("args %q, want %q", s.Process.Args, argv)
		}
		if !slices.Equal(s.Process.Env, MergeEnv(img.Env, env)) {
			t.Fatalf("env %q, want %q", s.Process.Env, MergeEnv(img.Env, env))
		}
		if wd := cmp(c.WorkingDir, img.WorkingDir, "/"); s.Process.Cwd != wd {
			t.Fatalf("cwd %q, want %q", s.Process.Cwd, wd)
		}
		checkMounts(t, s, mounts, defaultMounts)
		checkSecurity(t, s, in.Pod, c.SecurityContext)
		checkResources(t, s, c.Resources)
	})
}

func cmp(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// checkMergeEnv checks MergeEnv's contract: one entry per name, in the order
// names first appear, each with the value given last.
func checkMergeEnv(t *testing.T, lists ...[]string) {
	t.Helper()
	got := MergeEnv(lists...)
	last := map[string]string{}
	var order []string
	for _, kv := range slices.Concat(lists...) {
		name, _, _ := strings.Cut(kv, "=")
		if _, ok := last[name]; !ok {
			order = append(order, name)
		}
		last[name] = kv
	}
	if len(got) != len(order) {
		t.Fatalf("MergeEnv(%q) = %q: %d entries for %d names", lists, got, len(got), len(order))
	}
	for i, name := range order {
		if got[i] != last[name] {
			t.Fatalf("MergeEnv(%q)[%d] = %q, want %q", lists, i, got[i], last[name])
		}
	}
}

func checkMounts(t *testing.T, s *oci.Spec, mounts []Mount, defaults int) {
	t.Helper()
	dests := map[string]int{}
	for _, m := range s.Mounts {
		dests[m.Destination]++
	}
	for d, n := range dests {
		if n > 1 {
			t.Fatalf("%d mounts at %q: %v", n, d, s.Mounts)
		}
	}
	if len(s.Mounts) > defaults+len(mounts) {
		t.Fatalf("%d mounts from %d defaults and %d bind mounts", len(s.Mounts), defaults, len(mounts))
	}
	for i, m := range mounts {
		later := slices.ContainsFunc(mounts[i+1:], func(o Mount) bool { return o.Destination == m.Destination })
		if later {
			continue
		}
		j := slices.IndexFunc(s.Mounts, func(o specs.Mount) bool { return o.Destination == m.Destination })
		if j < 0 || s.Mounts[j].Source != m.Source || s.Mounts[j].Type != "bind" || slices.Contains(s.Mounts[j].Options, "ro") != m.ReadOnly {
			t.Fatalf("bind mount %+v is not in the spec: %v", m, s.Mounts)
		}
	}
}

func seccompProfile(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) *corev1.SeccompProfile {
	if c != nil && c.Privileged != nil && *c.Privileged {
		return nil
	}
	if c != nil && c.SeccompProfile != nil {
		return c.SeccompProfile
	}
	if pod != nil {
		return pod.SeccompProfile
	}
	return nil
}

func badLocalhostProfile(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) bool {
	p := seccompProfile(pod, c)
	return p != nil && p.Type == corev1.SeccompProfileTypeLocalhost && (p.LocalhostProfile == nil || strings.Contains(*p.LocalhostProfile, ".."))
}

func checkSecurity(t *testing.T, s *oci.Spec, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	var uid, gid *int64
	if pod != nil {
		uid, gid = pod.RunAsUser, pod.RunAsGroup
	}
	if c != nil && c.RunAsUser != nil {
		uid = c.RunAsUser
	}
	if c != nil && c.RunAsGroup != nil {
		gid = c.RunAsGroup
	}
	u := s.Process.User
	if uid != nil && u.UID != uint32(*uid) || gid != nil && u.GID != uint32(*gid) {
		t.Fatalf("user %d:%d, want %v:%v", u.UID, u.GID, uid, gid)
	}
	if pod != nil {
		groups := slices.Clone(pod.SupplementalGroups)
		if pod.FSGroup != nil {
			groups = append(groups, *pod.FSGroup)
		}
		for _, g := range groups {
			if !slices.Contains(u.AdditionalGids, uint32(g)) {
				t.Fatalf("group %d missing from %v", g, u.AdditionalGids)
			}
		}
		sorted := slices.Clone(u.AdditionalGids)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(u.AdditionalGids) {
			t.Fatalf("groups repeated: %v", u.AdditionalGids)
		}
		for _, sc := range pod.Sysctls {
			name := strings.ReplaceAll(sc.Name, "/", ".")
			lastValue := ""
			for _, o := range pod.Sysctls {
				if strings.ReplaceAll(o.Name, "/", ".") == name {
					lastValue = o.Value
				}
			}
			if s.Linux.Sysctl[name] != lastValue {
				t.Fatalf("sysctl %s = %q, want %q", name, s.Linux.Sysctl[name], lastValue)
			}
		}
	}
	if c == nil {
		return
	}
	if ro := c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem; s.Root.Readonly != ro {
		t.Fatalf("root read-only %v, want %v", s.Root.Readonly, ro)
	}
	if c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation && !s.Process.NoNewPrivileges {
		t.Fatal("allowPrivilegeEscalation false without no_new_privs")
	}
	if p := seccompProfile(nil, c); p != nil && p.Type == corev1.SeccompProfileTypeRuntimeDefault && s.Linux.Seccomp == nil {
		t.Fatal("RuntimeDefault without a seccomp profile")
	}
	caps := s.Process.Capabilities
	for _, set := range [][]string{caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable} {
		for _, name := range set {
			if !strings.HasPrefix(name, "CAP_") || name != strings.ToUpper(name) {
				t.Fatalf("capability %q is no capability name: %v", name, set)
			}
		}
	}
	if c.Capabilities == nil {
		return
	}
	names := func(cs []corev1.Capability) (out []string, all bool) {
		for _, c := range cs {
			n := strings.ToUpper(string(c))
			if n == "ALL" {
				all = true
				continue
			}
			out = append(out, "CAP_"+strings.TrimPrefix(n, "CAP_"))
		}
		return out, all
	}
	add, _ := names(c.Capabilities.Add)
	drop, dropAll := names(c.Capabilities.Drop)
	for _, name := range drop {
		if slices.Contains(caps.Bounding, name) || slices.Contains(caps.Effective, name) {
			t.Fatalf("dropped %s is in %v", name, caps.Bounding)
		}
	}
	for _, name := range add {
		if !slices.Contains(drop, name) && !slices.Contains(caps.Bounding, name) {
			t.Fatalf("added %s is not in %v", name, caps.Bounding)
		}
	}
	if dropAll {
		for _, name := range caps.Bounding {
			if !slices.Contains(add, name) {
				t.Fatalf("all dropped, but %s is in %v", name, caps.Bounding)
			}
		}
	}
}

func checkResources(t *testing.T, s *oci.Spec, r corev1.ResourceRequirements) {
	t.Helper()
	cpu := s.Linux.Resources.CPU
	if cpu.Shares == nil {
		t.Fatal("no cpu shares")
	}
	if *cpu.Shares < minShares || *cpu.Shares > maxShares {
		t.Fatalf("cpu shares %d outside [%d, %d] for requests %v, limits %v", *cpu.Shares, minShares, maxShares, r.Requests, r.Limits)
	}
	req := r.Requests.Cpu().MilliValue()
	if req == 0 {
		req = r.Limits.Cpu().MilliValue()
	}
	if want := req * 1024 / 1000; req > 0 && req < 200000 && want >= minShares && *cpu.Shares != uint64(want) {
		t.Fatalf("cpu shares %d for %dm, want %d", *cpu.Shares, req, want)
	}
	lim := r.Limits.Cpu().MilliValue()
	switch {
	case lim <= 0 && cpu.Quota != nil:
		t.Fatalf("quota %d without a cpu limit", *cpu.Quota)
	case lim > 0 && (cpu.Quota == nil || *cpu.Quota < 1000 || *cpu.Quota > maxQuota || cpu.Period == nil || *cpu.Period != cfsPeriod):
		t.Fatalf("quota %v period %v for a %dm limit", cpu.Quota, cpu.Period, lim)
	case lim > 0 && lim < 1<<30 && *cpu.Quota != max(lim*cfsPeriod/1000, 1000):
		t.Fatalf("quota %d for a %dm limit", *cpu.Quota, lim)
	case lim > 0 && float64(*cpu.Quota) < 0.999*min(float64(lim)*cfsPeriod/1000, maxQuota):
		// In floating point, which cannot overflow: a larger limit never
		// gives a smaller quota.
		t.Fatalf("quota %d for a %dm limit", *cpu.Quota, lim)
	}
	mem := r.Limits.Memory().Value()
	m := s.Linux.Resources.Memory
	if mem > 0 && (m == nil || m.Limit == nil || *m.Limit != mem) || mem <= 0 && m != nil && m.Limit != nil {
		t.Fatalf("memory limit %v for %d", m, mem)
	}
}
