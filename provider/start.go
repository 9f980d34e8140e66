package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	imagespec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
	"github.com/vk-containerd/vk-containerd/internal/podenv"
	"github.com/vk-containerd/vk-containerd/internal/podspec"
	"github.com/vk-containerd/vk-containerd/internal/sandbox"
	"github.com/vk-containerd/vk-containerd/internal/volumes"
)

// start creates (unless it exists) and starts one attempt of container c,
// then runs its postStart hook. It reports whether containerd changed, and
// why the attempt does not run (classified by failureOf).
func (w *worker) start(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *tracked, attempt int, delay time.Duration) (changed bool, err error) {
	id := containerID(pod.UID, c.Name, attempt)
	t0 := time.Now()
	defer func() { log.G(ctx).WithField("container", c.Name).WithField("took", time.Since(t0)).Debug("start") }()
	if r.current == nil || r.current.ID != id {
		if err := w.create(ctx, pod, c, r, id, attempt, delay); err != nil {
			return false, err
		}
	}
	logPath := w.dir.Log(c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return true, fmt.Errorf("%w: %w", errRunContainer, err)
	}
	if err := w.startTask(ctx, c, id, logPath); err != nil {
		msg := messageOf(err)
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
		// The label tells the next pass that this attempt ended. Without
		// it the attempt looks created and never started: report no change,
		// so the retry pause holds the next try.
		if lerr := w.p.cfg.Runtime.SetContainerLabels(ctx, id, map[string]string{ctrd.LabelStartError: msg}); lerr != nil {
			log.G(ctx).WithError(lerr).WithField("container", id).Warn("cannot record the start error")
			return false, err
		}
		return true, err
	}
	w.event(pod, corev1.EventTypeNormal, eventStarted, "Started container %s", c.Name)
	if err := w.postStart(ctx, pod, c, id); err != nil {
		// The kubelet stops a container whose postStart hook failed; its
		// restart policy then applies.
		w.stop(ctx, pod, []stopTarget{{name: c.Name, id: id}}, gracePeriod(pod))
	}
	return true, nil
}

// create pulls the image if needed and creates the containerd container.
func (w *worker) create(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *tracked, id string, attempt int, delay time.Duration) error {
	img, err := w.ensureImage(ctx, pod, c, r)
	if err != nil {
		return err
	}
	if err := w.mountImageVolumes(ctx, pod, c); err != nil {
		return err
	}
	res := w.grantedResources(c)
	opts, err := w.specOpts(ctx, pod, c, id, img.Config, res)
	if err != nil {
		return err
	}
	labels := map[string]string{
		ctrd.LabelPodUID:        string(pod.UID),
		ctrd.LabelPodNamespace:  pod.Namespace,
		ctrd.LabelPodName:       pod.Name,
		ctrd.LabelContainerName: c.Name,
		ctrd.LabelContainerKind: r.kind,
		ctrd.LabelAttempt:       strconv.Itoa(attempt),
		ctrd.LabelShimGroup:     string(pod.UID),
		ctrd.LabelRestartDelay:  delay.String(),
		ctrd.LabelSpecHash:      specHash(c),
		ctrd.LabelResources:     resourcesLabel(res),
	}
	if err := w.p.cfg.Runtime.CreateContainer(ctx, id, img, labels, opts...); err != nil {
		if errors.Is(err, ctrd.ErrExists) {
			return nil
		}
		return err
	}
	w.event(pod, corev1.EventTypeNormal, eventCreated, "Created container: %s", c.Name)
	return nil
}

// ensureImage applies the container's pull policy and pulls when needed.
func (w *worker) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, r *tracked) (ctrd.Image, error) {
	img, err := w.ensureImageRef(ctx, pod, c.Image, pullPolicy(c.Image, c.ImagePullPolicy))
	if err == nil {
		r.imageID = imageID(img.Ref, img.Digest)
	}
	return img, err
}

// ensureImageRef makes image present by policy, pulling it when needed, with
// the kubelet's events and errors.
func (w *worker) ensureImageRef(ctx context.Context, pod *corev1.Pod, image string, policy corev1.PullPolicy) (ctrd.Image, error) {
	ref, err := ctrd.NormalizeRef(image)
	if err != nil {
		return ctrd.Image{}, fmt.Errorf("failed to apply default image tag %q: %w", image, err)
	}
	if policy != corev1.PullAlways {
		img, err := w.p.cfg.Images.Get(ctx, ref)
		if err == nil {
			return img, nil
		}
		if !errors.Is(err, ctrd.ErrImageNotFound) {
			return ctrd.Image{}, fmt.Errorf("%w: %w", errImageLookup, err)
		}
		if policy == corev1.PullNever {
			return ctrd.Image{}, fmt.Errorf("%w: container image %q is not present with pull policy of Never", errNeverPull, image)
		}
	}
	creds, err := w.pullCredentials(ctx, pod)
	if err != nil {
		log.G(ctx).WithError(err).Warn("cannot read imagePullSecrets; pulling without them")
	}
	w.event(pod, corev1.EventTypeNormal, eventPulling, "Pulling image %q", image)
	pullCtx, stop := w.cancelOnDelete(ctx)
	img, took, err := w.p.cfg.Images.Pull(pullCtx, ref, creds)
	deleted := pullCtx.Err() != nil && ctx.Err() == nil
	stop()
	if deleted {
		return ctrd.Image{}, fmt.Errorf("%w: pull of %q stopped: the pod was deleted", ctrd.ErrPull, image)
	}
	if err != nil {
		w.event(pod, corev1.EventTypeWarning, eventFailed, "Failed to pull image %q: %v", image, err)
		return ctrd.Image{}, fmt.Errorf("failed to pull image %q: %w", image, err)
	}
	delete(w.pullDelays, ref)
	w.event(pod, corev1.EventTypeNormal, eventPulled, "Successfully pulled image %q in %s", image, took.Round(time.Millisecond))
	return img, nil
}

// imageRef is the normalized form of an image name, or the name itself when
// it has none; pull back-offs are kept by it.
func imageRef(image string) string {
	if ref, err := ctrd.NormalizeRef(image); err == nil {
		return ref
	}
	return image
}

// imageID names an image by its repository and digest, as a container
// status does.
func imageID(ref, digest string) string {
	name := ref
	if i := strings.LastIndexAny(name, "@"); i >= 0 {
		name = name[:i]
	} else if j, k := strings.LastIndexAny(name, ":"), strings.LastIndexAny(name, "/"); j > k {
		name = name[:j]
	}
	return name + "@" + digest
}

// pullPolicy is the policy of an image (a container's or an image
// volume's), defaulted as the API server does for pods that reach us
// without one: Always for the tag "latest" or no tag at all, IfNotPresent
// otherwise (a digest pins the content).
func pullPolicy(image string, policy corev1.PullPolicy) corev1.PullPolicy {
	if policy != "" {
		return policy
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return corev1.PullIfNotPresent
	}
	if tagged, ok := named.(reference.Tagged); ok {
		if tagged.Tag() == "latest" {
			return corev1.PullAlways
		}
		return corev1.PullIfNotPresent
	}
	if _, ok := named.(reference.Digested); ok {
		return corev1.PullIfNotPresent
	}
	return corev1.PullAlways
}

func (w *worker) pullCredentials(ctx context.Context, pod *corev1.Pod) (ctrd.Credentials, error) {
	creds := ctrd.Credentials{}
	var errs []error
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := w.p.source.GetSecret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, key := range []string{corev1.DockerConfigJsonKey, corev1.DockerConfigKey} {
			if data, ok := s.Data[key]; ok {
				if err := ctrd.ParseDockerConfigJSON(data, creds); err != nil {
					errs = append(errs, fmt.Errorf("secret %s: %w", ref.Name, err))
				}
			}
		}
	}
	return creds, errors.Join(errs...)
}

// joinedNetworkAndUTS are the network and UTS namespaces a container of pod
// joins by path: the sandbox's, or for a hostNetwork pod hostNetNS and the
// host's UTS ("": containerd's own namespace).
func joinedNetworkAndUTS(pod *corev1.Pod, sb *sandbox.Sandbox, hostNetNS string) (netNS, utsNS string) {
	if pod.Spec.HostNetwork {
		return hostNetNS, ""
	}
	return sb.Namespaces.Net, sb.Namespaces.UTS
}

// specOpts builds the OCI spec options of container c in the pod's
// sandbox, with the resources res the node granted it.
func (w *worker) specOpts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, img imagespec.ImageConfig, res corev1.ResourceRequirements) ([]podspec.Option, error) {
	facts := podenv.Facts{NodeName: w.p.cfg.NodeName, Allocatable: w.p.cfg.Allocatable}
	for _, ip := range w.sb.IPs {
		facts.PodIPs = append(facts.PodIPs, ip.String())
	}
	if w.p.cfg.HostIP != nil {
		facts.HostIPs = []string{w.p.cfg.HostIP.String()}
		if pod.Spec.HostNetwork {
			facts.PodIPs = facts.HostIPs
		}
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if w.p.source.client != nil {
		services, err := w.p.source.ServiceEnv(ctx, pod.Namespace, links)
		if err != nil {
			return nil, fmt.Errorf("read the services for the pod's environment: %w", err)
		}
		facts.Services = services
	}
	env, err := podenv.Resolve(ctx, w.p.source, pod, c, facts)
	if err != nil {
		return nil, err
	}
	if err := podspec.CheckRunAsNonRoot(pod, c, img.User); err != nil {
		return nil, fmt.Errorf("%w: %w", podenv.ErrConfig, err)
	}
	vars := envMap(env)
	vmounts, err := volumes.ContainerMounts(pod, c, w.volumePaths, vars, w.dir.VolumeSubpaths(), w.p.cfg.HostRoot)
	if err != nil {
		// A bad subPath is the pod's configuration, as on the kubelet.
		return nil, fmt.Errorf("%w: %w", podenv.ErrConfig, err)
	}
	mounts := []podspec.Mount{
		{Source: w.sb.Hosts, Destination: "/etc/hosts"},
		{Source: w.sb.ResolvConf, Destination: "/etc/resolv.conf"},
		{Source: w.sb.Hostname, Destination: "/etc/hostname"},
	}
	for _, m := range vmounts {
		mounts = append(mounts, podspec.Mount{Source: m.Source, Destination: m.Destination, ReadOnly: m.ReadOnly})
	}
	if src, dst, ok, err := w.terminationMount(c, id); err != nil {
		return nil, err
	} else if ok {
		mounts = append(mounts, podspec.Mount{Source: src, Destination: dst})
	}
	netNS, utsNS := joinedNetworkAndUTS(pod, w.sb, w.p.cfg.HostNetNS)
	opts := []podspec.Option{
		podspec.WithCommand(img, expandAll(c.Command, vars), expandAll(c.Args, vars)),
		podspec.WithEnv(img, env),
		podspec.WithWorkingDir(img, c.WorkingDir),
		podspec.WithJoinedNamespaces(netNS, w.sb.Namespaces.IPC, utsNS),
		podspec.WithCgroupMount(c.SecurityContext),
		podspec.WithMounts(mounts),
		podspec.WithOOMScoreAdj(oomScoreAdj(pod, c, w.p.cfg.NodeMemory)),
		// The runc shim reads its group from the spec's annotations: every
		// container of the pod then runs under one shim.
		podspec.WithAnnotations(map[string]string{ctrd.LabelShimGroup: string(pod.UID)}),
	}
	opts = append(opts, podspec.WithSecurity(pod.Spec.SecurityContext, c.SecurityContext)...)
	opts = append(opts, podspec.WithSysctls(pod.Spec.SecurityContext),
		podspec.WithSeccomp(pod.Spec.SecurityContext, c.SecurityContext, w.p.cfg.SeccompRoot))
	opts = append(opts, podspec.WithResources(res))
	if target := ephemeralTarget(pod, c.Name); target != "" {
		if r := w.records[target]; r != nil && r.running() && r.current.Pid > 0 {
			opts = append(opts, podspec.WithPIDNamespace(fmt.Sprintf("/proc/%d/ns/pid", r.current.Pid)))
		}
	}
	if c.TTY {
		opts = append(opts, podspec.WithTTY())
	}
	return opts, nil
}

// startTask starts the container's process. Its output goes to a log
// driver that the shim runs, unless it keeps stdin open: the shim cannot
// pair a stdin with a log driver, so the agent holds such streams itself.
func (w *worker) startTask(ctx context.Context, c *corev1.Container, id, logPath string) error {
	if c.Stdin {
		return w.startWithStreams(ctx, c, id, logPath)
	}
	logURI, err := w.logURI(logPath)
	if err != nil {
		return err
	}
	_, err = w.p.cfg.Runtime.StartContainer(ctx, id, logURI)
	return err
}

// logURI makes the shim run the agent's binary as the container's CRI log
// writer, or, without one (tests), append raw output to the file.
func (w *worker) logURI(path string) (*url.URL, error) {
	if w.p.cfg.LogDriver == "" {
		return &url.URL{Scheme: "file", Path: path}, nil
	}
	return crilog.DriverConfig{Path: path, MaxSize: w.p.cfg.LogMaxSize, MaxFiles: w.p.cfg.LogMaxFiles}.URI(w.p.cfg.LogDriver)
}

// ephemeralTarget is the container whose processes ephemeral container name
// shares, or "".
func ephemeralTarget(pod *corev1.Pod, name string) string {
	for _, ec := range pod.Spec.EphemeralContainers {
		if ec.Name == name {
			return ec.TargetContainerName
		}
	}
	return ""
}

// envMap turns NAME=value entries into a map.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// expandAll expands $(VAR) references in a container's command or args
// from its environment, as the kubelet does.
func expandAll(list []string, vars map[string]string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = podenv.Expand(s, vars)
	}
	return out
}
