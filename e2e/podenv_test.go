//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkPod runs script in a busybox pod with restartPolicy Never and fails
// the test unless it exits 0. The script prints what it checks, so the
// container's exit code carries the verdict.
func checkPod(t *testing.T, ns string, pod *corev1.Pod) {
	t.Helper()
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	createPod(t, ns, pod)
	p := waitPod(t, ns, pod.Name, 90*time.Second, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod %s: %s %s", pod.Name, p.Status.Phase, describeContainers(p))
	}
}

func TestDNSAndHostsFiles(t *testing.T) {
	ns := testNamespace(t)
	none := podSpec("dns-none", busybox, "sh", "-c", `set -e
grep -qx 'nameserver 10.0.0.53' /etc/resolv.conf
grep -q 'search custom.example' /etc/resolv.conf
grep -q 'ndots:2' /etc/resolv.conf
grep -q '10.1.2.3	alias-one	alias-two' /etc/hosts
grep -q "$(hostname)" /etc/hosts
[ "$(hostname)" = web-0 ]
[ "$(cat /etc/hostname)" = web-0 ]
grep -q 'web-0.sub.'"$POD_NS"'.svc.cluster.local' /etc/hosts`)
	none.Spec.DNSPolicy = corev1.DNSNone
	ndots := "2"
	none.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.0.0.53"}, Searches: []string{"custom.example"},
		Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &ndots}}}
	none.Spec.HostAliases = []corev1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"alias-one", "alias-two"}}}
	none.Spec.Hostname, none.Spec.Subdomain = "web-0", "sub"
	none.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}
	checkPod(t, ns, none)

	// Default copies the node's resolv.conf nameservers.
	def := podSpec("dns-default", busybox, "sh", "-c", `grep -q nameserver /etc/resolv.conf`)
	def.Spec.DNSPolicy = corev1.DNSDefault
	checkPod(t, ns, def)
}

func TestEnvironmentAndDownwardAPI(t *testing.T) {
	ns := testNamespace(t)
	ctx := context.Background()
	_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"color": "blue", "size": "xl"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		Data: map[string][]byte{"password": []byte("s3cret")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := podSpec("env", busybox, "sh", "-c", `set -e
[ "$PLAIN" = value ]
[ "$COMPOSED" = "value-blue" ]
[ "$COLOR" = blue ]
[ "$CFG_size" = xl ]
[ "$PASSWORD" = s3cret ]
[ "$POD_NAME" = env ]
[ -n "$POD_IP" ] && ip addr show eth0 | grep -q "inet $POD_IP/"
[ -n "$HOST_IP" ]
[ "$NODE" = "$EXPECTED_NODE" ]
[ "$MEM_LIMIT" = 64 ]
[ "$(pwd)" = /tmp ]`)
	c := &pod.Spec.Containers[0]
	c.WorkingDir = "/tmp"
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: mustQuantity("64Mi")}
	c.EnvFrom = []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	c.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "value"},
		{Name: "COLOR", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "color"}}},
		{Name: "COMPOSED", Value: "$(PLAIN)-$(COLOR)"},
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "EXPECTED_NODE", Value: nodeName},
		{Name: "MEM_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: mustQuantity("1Mi")}}},
	}
	checkPod(t, ns, pod)
}

func TestVolumes(t *testing.T) {
	ns := testNamespace(t)
	ctx := context.Background()
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "files"},
		Data: map[string]string{"app.conf": "mode=fast\n"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"token": []byte("abc")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	requireNode(t, "not on the node: the hostPath part needs a directory on the node's host")
	hostDir := nodeTempDir(t)
	pod := podSpec("volumes", busybox, "sh", "-c", fmt.Sprintf(`set -e
sa=/var/run/secrets/kubernetes.io/serviceaccount
[ -s $sa/token ] && grep -q 'BEGIN CERTIFICATE' $sa/ca.crt && [ "$(cat $sa/namespace)" = %q ]
[ "$(cat /cfg/app.conf)" = mode=fast ]
[ "$(cat /sec/token)" = abc ]
! touch /cfg/new 2>/dev/null
echo scratch > /scratch/f && [ "$(cat /scratch/f)" = scratch ]
grep -q '^mem ' /proc/mounts || true
echo from-pod > /host/out
[ "$(cat /info/labels)" = 'app="volumes"' ]`, ns))
	pod.Labels = map[string]string{"app": "volumes"}
	dirType := corev1.HostPathDirectory
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "files"}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &dirType}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec"}, {Name: "scratch", MountPath: "/scratch"},
		{Name: "host", MountPath: "/host"}, {Name: "info", MountPath: "/info"},
	}
	checkPod(t, ns, pod)
	if data := nodeFile(t, hostDir+"/out"); data != "from-pod\n" {
		t.Fatalf("hostPath file written by the pod: %q", data)
	}
}

func TestImagePullSecrets(t *testing.T) {
	ns := testNamespace(t)
	authRegistry := envOr("VKC_E2E_AUTH_REGISTRY", "127.0.0.1:5001")
	login := envOr("VKC_E2E_AUTH_LOGIN", "e2e:vk-containerd-e2e")
	image := authRegistry + "/busybox:1.35"

	// Without a secret the registry refuses the pull.
	denied := podSpec("no-secret", image, "true")
	denied.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	createPod(t, ns, denied)
	waitPod(t, ns, "no-secret", 60*time.Second, "ErrImagePull or ImagePullBackOff", waitingReasonIn("ErrImagePull", "ImagePullBackOff"))

	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, authRegistry, base64.StdEncoding.EncodeToString([]byte(login)))
	if _, err := client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pull"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	allowed := podSpec("with-secret", image, "true")
	allowed.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	allowed.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	checkPod(t, ns, allowed)
}

func TestSidecarStartsFirstAndStopsLast(t *testing.T) {
	ns := testNamespace(t)
	always := corev1.ContainerRestartPolicyAlways
	pod := podSpec("sidecar", busybox, "sh", "-c", `for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /shared/ready ] && exit 0; sleep 0.5; done; exit 1`)
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mount := []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}}
	pod.Spec.Containers[0].VolumeMounts = mount
	pod.Spec.InitContainers = []corev1.Container{{
		Name: "helper", Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent, RestartPolicy: &always, VolumeMounts: mount,
		Command: []string{"sh", "-c", "touch /shared/ready; trap 'exit 0' TERM; sleep 3600 & wait"},
	}}
	createPod(t, ns, pod)
	p := waitPod(t, ns, "sidecar", 60*time.Second, "Succeeded with the sidecar stopped", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %s", p.Status.Phase, describeContainers(p))
	}
	// Once the app container is done the pod is terminal and the sidecar is stopped.
	waitPod(t, ns, "sidecar", 30*time.Second, "sidecar terminated", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "helper")
		return cs.State.Terminated != nil
	})
}

func TestManyContainersAndLongNames(t *testing.T) {
	ns := testNamespace(t)
	long := "p" + fmt.Sprintf("%062d", 0) // 63 characters, the longest DNS label
	pod := podSpec(long, busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
	pod.Spec.Containers[0].Name = "c" + fmt.Sprintf("%062d", 1)
	createPod(t, ns, pod)
	waitPod(t, ns, long, 60*time.Second, "Running", isRunningReady)

	many := podSpec("hundred", busybox)
	many.Spec.Containers = nil
	for i := 0; i < 100; i++ {
		many.Spec.Containers = append(many.Spec.Containers, corev1.Container{
			Name: fmt.Sprintf("c%03d", i), Image: busybox, ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
		})
	}
	createPod(t, ns, many)
	waitPod(t, ns, "hundred", 5*time.Minute, "all 100 containers Running", isRunningReady)
	if envOr("VKC_E2E_CONTROL", "") != "" {
		p := waitPod(t, ns, "hundred", time.Second, "Running", isRunningReady)
		control(t, "check-one-shim", string(p.UID))
	}
	zero := int64(0)
	deletePodAndWait(t, ns, "hundred", &zero, 2*time.Minute)
}

func TestHostNetworkPod(t *testing.T) {
	requireNode(t, "not on the node: the test compares the pod's view with the node's")
	ns := testNamespace(t)
	host := nodeFile(t, "/proc/sys/kernel/hostname")
	pod := podSpec("hostnet", busybox, "sh", "-c", fmt.Sprintf(`set -e
[ "$(hostname)" = %q ]
ip -o addr | grep -q 'inet %s/'`, strings.TrimSpace(host), nodeIP(t)))
	pod.Spec.HostNetwork = true
	checkPod(t, ns, pod)
	p := waitPod(t, ns, "hostnet", time.Second, "done", phaseIs(corev1.PodSucceeded))
	if p.Status.PodIP != p.Status.HostIP {
		t.Errorf("hostNetwork pod IP %s, want the host IP %s", p.Status.PodIP, p.Status.HostIP)
	}
}

func nodeIP(t *testing.T) string {
	n := getNode(context.Background(), t)
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatal("node has no InternalIP")
	return ""
}

// kubeletAddr is host:port of the node's kubelet API, as the node reports it.
func kubeletAddr(t *testing.T) string {
	n := getNode(context.Background(), t)
	return net.JoinHostPort(nodeIP(t), strconv.Itoa(int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)))
}
