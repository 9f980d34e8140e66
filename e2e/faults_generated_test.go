//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A badness is one way a pod spec the API server accepts can be wrong for
// the node. break_ spoils a healthy spec; the pod then must show one of the
// kubelet's reasons in its status, or an event with one of them.
type badness struct {
	name   string
	break_ func(r *rand.Rand, p *corev1.Pod)
}

var badnesses = []badness{
	{"missing image", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Image = fmt.Sprintf("%s/no-such-image-%d:1", registry, r.Intn(1000))
	}},
	{"invalid image name", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Image = []string{"Upper/Case:1", "a b/c", "x::y", "registry/@sha256:zz", "UPPER"}[r.Intn(5)]
	}},
	{"never pulled", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Image = fmt.Sprintf("%s/absent-%d:1", registry, r.Intn(1000))
		p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	}},
	{"missing binary", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Command = []string{fmt.Sprintf("/no/such/binary-%d", r.Intn(1000))}
	}},
	{"missing configMap key", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}})
	}},
	{"missing secret key", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "Y", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}})
	}},
	{"missing configMap volume", func(r *rand.Rand, p *corev1.Pod) {
		addVolume(p, corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}})
	}},
	{"missing hostPath file", func(r *rand.Rand, p *corev1.Pod) {
		t := []corev1.HostPathType{corev1.HostPathFile, corev1.HostPathDirectory, corev1.HostPathSocket, corev1.HostPathCharDev}[r.Intn(4)]
		addVolume(p, corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: fmt.Sprintf("/nonexistent/vkc-%d", r.Intn(1000)), Type: &t}})
	}},
	{"subPath out of the volume", func(r *rand.Rand, p *corev1.Pod) {
		addVolume(p, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})
		p.Spec.Containers[0].VolumeMounts[len(p.Spec.Containers[0].VolumeMounts)-1].SubPathExpr = "$(ESCAPE)"
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "ESCAPE", Value: []string{"..", "../..", "/etc"}[r.Intn(3)]})
	}},
	{"root image with runAsNonRoot", func(r *rand.Rand, p *corev1.Pod) {
		yes := true
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: &yes}
	}},
	{"forbidden sysctl", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
			{Name: []string{"kernel.msgmax", "vm.swappiness", "kernel.shmall"}[r.Intn(3)], Value: strconv.Itoa(r.Intn(100))}}}
	}},
	{"missing Localhost seccomp profile", func(r *rand.Rand, p *corev1.Pod) {
		prof := fmt.Sprintf("absent-%d.json", r.Intn(1000))
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{
			Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &prof}}
	}},
	{"exits with an error", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.Containers[0].Command = []string{"sh", "-c", fmt.Sprintf("exit %d", 1+r.Intn(254))}
	}},
	{"crash loop", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.Containers[0].Command = []string{"sh", "-c", "exit 1"}
	}},
	{"bad init container", func(r *rand.Rand, p *corev1.Pod) {
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: busybox, Command: []string{"/no/such/init"},
			ImagePullPolicy: corev1.PullIfNotPresent}}
	}},
}

func addVolume(p *corev1.Pod, src corev1.VolumeSource) {
	name := fmt.Sprintf("v%d", len(p.Spec.Volumes))
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: src})
	p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/mnt/" + name})
}

// kubeletReasons are the reasons a bad pod may show, in its status or in a
// Warning event.
var kubeletReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true, "StartError": true, "Error": true, "ContainerCannotRun": true,
	"SysctlForbidden": true, "FailedValidation": true, "FailedMount": true, "FailedCreatePodSandBox": true,
	"Failed": true, "BackOff": true,
}

// reasonOf returns the kubelet reason the pod shows in its status, or "".
func reasonOf(p *corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed && kubeletReasons[p.Status.Reason] {
		return p.Status.Reason
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		for _, st := range []corev1.ContainerState{cs.State, cs.LastTerminationState} {
			if st.Waiting != nil && kubeletReasons[st.Waiting.Reason] {
				return st.Waiting.Reason
			}
			if st.Terminated != nil && kubeletReasons[st.Terminated.Reason] {
				return st.Terminated.Reason
			}
		}
	}
	return ""
}

// TestFaultGeneratedPods sends 2,000 generated pods, nine in ten of them
// bad in one or two of the ways above, in batches that fit the node, beside
// three healthy pods. Every bad pod must show a kubelet reason, every good
// one must run, the healthy pods must keep their containers, and the agent
// must not panic.
func TestFaultGeneratedPods(t *testing.T) {
	ns := faultNamespace(t, "2,000 generated pods")
	total, batch := 2000, 100
	if v, err := strconv.Atoi(os.Getenv("VKC_E2E_GENERATED_PODS")); err == nil && v > 0 {
		total = v
	}
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("VKC_E2E_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (VKC_E2E_SEED=%d repeats this run)", seed, seed)
	r := rand.New(rand.NewSource(seed))

	var healthy []string
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("healthy-%d", i)
		createPod(t, ns, sleeper(name))
		healthy = append(healthy, name)
	}
	for _, name := range healthy {
		waitPod(t, ns, name, 90*time.Second, "Running", isRunningReady)
	}
	before := runningIDs(t, ns, healthy)
	panicsBefore := strings.TrimSpace(controlOutput(t, "agent-panics"))

	byReason := map[string]int{}
	bad, good, unexplained, rejected := 0, 0, 0, 0
	var creating, judging, deleting time.Duration // summed over the batches
	start := time.Now()
	for sent := 0; sent < total; {
		n := min(batch, total-sent)
		pods := make([]*corev1.Pod, 0, n)
		for len(pods) < n {
			name := fmt.Sprintf("gen-%04d", sent+len(pods))
			p := sleeper(name)
			zero := int64(0)
			p.Spec.TerminationGracePeriodSeconds = &zero
			var applied []string
			if r.Intn(10) > 0 {
				for k := 0; k < 1+r.Intn(2); k++ {
					b := badnesses[r.Intn(len(badnesses))]
					b.break_(r, p)
					applied = append(applied, b.name)
				}
			}
			p.Annotations = map[string]string{"vk-containerd.e2e/badness": strings.Join(applied, ",")}
			pods = append(pods, p)
		}
		t0 := time.Now()
		created := createAll(t, ns, pods)
		rejected += n - len(created)
		sent += n
		t1 := time.Now()
		b, g, u := judgeBatch(t, ns, created, byReason)
		bad, good, unexplained = bad+b, good+g, unexplained+u
		t2 := time.Now()
		deleteAll(t, ns, created)
		// The next batch waits for this one to be gone from the host too,
		// so the node's pod capacity is never what refuses a pod.
		eventually(t, 2*time.Minute, "the batch's pod directories removed", func(context.Context) (bool, error) {
			dirs := hostLeaks(t)["pod-dirs"]
			return dirs == len(healthy), fmt.Errorf("%d pod directories", dirs)
		})
		creating, judging, deleting = creating+t1.Sub(t0), judging+t2.Sub(t1), deleting+time.Since(t2)
	}
	changed := compareIDs(t, before, runningIDs(t, ns, healthy))
	panicsAfter := strings.TrimSpace(controlOutput(t, "agent-panics"))
	if panicsAfter != panicsBefore {
		t.Errorf("the agent's log tells of panics: %s lines before, %s after", panicsBefore, panicsAfter)
	}
	eventually(t, 30*time.Second, "node Ready", nodeReadyIs(corev1.ConditionTrue))
	figure(t, "generated pods: %d sent in batches of %d in %s (creating %s, until every pod shows its reason or runs %s, deleted and gone from the host %s); %d refused by the API server, %d bad with a kubelet reason, %d bad without one, %d good running; reasons %v; panic lines in the agent's log %s -> %s; %d of %d healthy containers changed",
		total, batch, time.Since(start).Round(time.Second), creating.Round(time.Second), judging.Round(time.Second), deleting.Round(time.Second),
		rejected, bad, unexplained, good, byReason, panicsBefore, panicsAfter, changed, len(before))
}

// createAll creates pods at once and returns those the API server took.
func createAll(t *testing.T, ns string, pods []*corev1.Pod) []*corev1.Pod {
	t.Helper()
	var mu sync.Mutex
	var out []*corev1.Pod
	work := make(chan *corev1.Pod)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				got, err := client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
				if err != nil {
					if !apierrors.IsInvalid(err) {
						t.Errorf("create %s: %v", p.Name, err)
					}
					continue
				}
				mu.Lock()
				out = append(out, got)
				mu.Unlock()
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	return out
}

// judgeBatch waits until every pod of the batch shows a kubelet reason (bad
// ones) or runs or ends (good ones), then counts them; a pod that shows
// neither in time is reported.
func judgeBatch(t *testing.T, ns string, pods []*corev1.Pod, byReason map[string]int) (bad, good, unexplained int) {
	t.Helper()
	pending := map[string]*corev1.Pod{}
	for _, p := range pods {
		pending[p.Name] = p
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) {
		list, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list pods: %v", err)
		}
		warned := eventReasons(t, ns)
		for i := range list.Items {
			p := &list.Items[i]
			if pending[p.Name] == nil {
				continue
			}
			broken := p.Annotations["vk-containerd.e2e/badness"] != ""
			switch {
			case !broken && (isRunningReady(p) || p.Status.Phase == corev1.PodSucceeded):
				good++
			case broken && reasonOf(p) != "":
				bad++
				byReason[reasonOf(p)]++
			case broken && warned[string(p.UID)] != "":
				bad++
				byReason[warned[string(p.UID)]]++
			default:
				continue
			}
			delete(pending, p.Name)
		}
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	for _, p := range pending {
		unexplained++
		got, _ := client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
		if got != nil {
			p = got
		}
		t.Errorf("pod %s (%s) shows no kubelet reason: phase %s, %s", p.Name, p.Annotations["vk-containerd.e2e/badness"], p.Status.Phase, describeContainers(p))
	}
	return bad, good, unexplained
}

// eventReasons maps pod UIDs to a kubelet reason of a Warning event about them.
func eventReasons(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	out := map[string]string{}
	for _, e := range list.Items {
		if kubeletReasons[e.Reason] {
			out[string(e.InvolvedObject.UID)] = e.Reason
		}
	}
	return out
}

// deleteAll deletes pods at once, without grace, and waits until they are gone.
func deleteAll(t *testing.T, ns string, pods []*corev1.Pod) {
	t.Helper()
	zero := int64(0)
	for _, p := range pods {
		if err := client.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete %s: %v", p.Name, err)
		}
	}
	eventually(t, 2*time.Minute, "the batch's pods gone", func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		left := 0
		for _, p := range list.Items {
			if strings.HasPrefix(p.Name, "gen-") {
				left++
			}
		}
		return left == 0, fmt.Errorf("%d left", left)
	})
}
