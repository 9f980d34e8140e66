package provider

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Names the node's host paths are made from are admitted only when safe: a
// pod with a container name that is not a DNS label, or a UID that is not a
// plain name, fails before anything of it is made, and is released on
// deletion all the same.
func TestAdmissionRefusesUnsafeNames(t *testing.T) {
	const label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
	cases := map[string]struct {
		edit func(*corev1.Pod)
		want string
	}{
		"container name with a path": {func(p *corev1.Pod) { p.Spec.Containers[0].Name = "../../escape" },
			`invalid pod: spec.containers[0].name: Invalid value: "../../escape": ` + label},
		"init container named ..": {func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{initC("..")} },
			`invalid pod: spec.initContainers[0].name: Invalid value: "..": ` + label},
		"UID with a path": {func(p *corev1.Pod) { p.UID = "../../etc" },
			`invalid pod: metadata.uid: Invalid value: "../../etc": pod UID "../../etc" is not a plain name`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			n := newNode(t)
			pod := appPod(corev1.RestartPolicyAlways, nil, "app")
			c.edit(pod)
			n.images.present[testImage] = true
			w := n.worker(n.pods, pod)
			n.settle(w)
			st := n.last()
			if w.state != stateTerminal || st.Phase != corev1.PodFailed || st.Reason != ReasonFailedValidation || st.Message != c.want {
				t.Errorf("state %s phase %s reason %s message %s\nwant message %s", w.state, st.Phase, st.Reason, st.Message, c.want)
			}
			if ev := n.recorder.byReason(ReasonFailedValidation); len(ev) != 1 || ev[0].message != c.want {
				t.Errorf("events = %+v", ev)
			}
			if n.rt.count() != 0 || len(n.sandboxes.live) != 0 || len(n.volumes.prepared) != 0 || n.images.pulls != 0 {
				t.Error("something of the refused pod was made")
			}
			if entries, err := os.ReadDir(string(n.pods.cfg.PodDirs)); err == nil && len(entries) > 0 {
				t.Errorf("pod directories made: %v", entries)
			}
			w.requestDelete(pod)
			n.settle(w)
			if w.state != stateGone {
				t.Errorf("after deletion: state %s, want gone", w.state)
			}
		})
	}
}

// The /containerLogs parameters reach GetContainerLogs, which serves only
// a container of the pod's spec: a name with a path in it is not one.
func TestContainerLogsRefusesNamesOutsideTheSpec(t *testing.T) {
	n := newNode(t)
	pod := appPod(corev1.RestartPolicyAlways, nil, "app")
	w := n.worker(n.pods, pod)
	n.running(w, pod)
	for _, name := range []string{"..", "../app", "app/../../..", "../../../../etc/passwd", "/etc/passwd", ""} {
		_, err := n.pods.GetContainerLogs(context.Background(), pod.Namespace, pod.Name, name, api.ContainerLogOpts{})
		if want := `container "` + name + `" is not valid for pod "web"`; !errdefs.IsInvalidInput(err) || err.Error() != want {
			t.Errorf("container %q: err = %v, want %q", name, err, want)
		}
	}
	for _, key := range [][2]string{{"..", "web"}, {"default", "../web"}, {"default/web", ""}, {"default", "web/.."}} {
		if _, err := n.pods.GetContainerLogs(context.Background(), key[0], key[1], "app", api.ContainerLogOpts{}); !errdefs.IsNotFound(err) {
			t.Errorf("pod %s/%s: err = %v, want NotFound", key[0], key[1], err)
		}
	}
	// A pod whose spec names its container ".." (adopted, never admitted)
	// reads that container's log from inside the pod's log directory.
	bad := appPod(corev1.RestartPolicyAlways, nil, "..")
	bad.UID, bad.Name = types.UID("0f3b6d0e-1a2b-4c3d-8e9f-00000000000b"), "bad"
	bw := n.worker(n.pods, bad)
	if got := bw.dir.Log("..", 0); !strings.HasPrefix(got, bw.dir.Path()+"/logs/") || strings.Count(strings.TrimPrefix(got, bw.dir.Path()+"/logs/"), "/") != 1 {
		t.Errorf("log path of container \"..\" = %s, not in the pod's log directory", got)
	}
}
