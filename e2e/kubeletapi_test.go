//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectl runs the kubectl named by VKC_E2E_KUBECTL (or on PATH) against the
// cluster under test and returns its stdout, stderr and exit code.
func kubectl(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	bin := envOr("VKC_E2E_KUBECTL", "kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.Getenv("KUBECONFIG"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestKubectlLogs(t *testing.T) {
	ns := testNamespace(t)
	// stderr is written after a pause: the two streams are copied apart, so
	// only time orders them in the log.
	pod := podSpec("talker", busybox, "sh", "-c", `for i in 1 2 3 4 5; do echo line-$i; done; sleep 0.5; echo oops >&2; sleep 2; echo done; exit 1`)
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	createPod(t, ns, pod)
	waitPod(t, ns, "talker", 60*time.Second, "restarted once", func(p *corev1.Pod) bool {
		return containerStatus(p, "main").RestartCount >= 1
	})
	out, errOut, code := kubectl(t, "", "-n", ns, "logs", "talker", "--previous")
	// stdout and stderr are separate streams: their lines may interleave.
	var stdoutLines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "line-") {
			stdoutLines = append(stdoutLines, l)
		}
	}
	if code != 0 || strings.Join(stdoutLines, ",") != "line-1,line-2,line-3,line-4,line-5" || !strings.Contains(out, "oops") || !strings.Contains(out, "done") {
		t.Fatalf("logs --previous: %q %q (exit %d)", out, errOut, code)
	}
	out, _, _ = kubectl(t, "", "-n", ns, "logs", "talker", "--previous", "--tail=1")
	if strings.TrimSpace(out) != "done" {
		t.Errorf("logs --tail=1 = %q, want done", out)
	}
	out, _, _ = kubectl(t, "", "-n", ns, "logs", "talker", "--previous", "--limit-bytes=7")
	if out != "line-1\n" {
		t.Errorf("logs --limit-bytes=7 = %q, want %q", out, "line-1\n")
	}
	out, _, _ = kubectl(t, "", "-n", ns, "logs", "talker", "--previous", "--timestamps", "--tail=1")
	if fields := strings.Fields(out); len(fields) != 2 || fields[1] != "done" {
		t.Errorf("logs --timestamps = %q", out)
	} else if _, err := time.Parse(time.RFC3339Nano, fields[0]); err != nil {
		t.Errorf("logs --timestamps: %q is not a timestamp", fields[0])
	}
	// -f follows the running attempt and ends when the container exits.
	start := time.Now()
	out, _, code = kubectl(t, "", "-n", ns, "logs", "talker", "-f")
	if code != 0 || !strings.Contains(out, "done") {
		t.Errorf("logs -f: %q (exit %d)", out, code)
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("logs -f did not end with the container")
	}

	// A container that never started gets the kubelet's answer.
	waiting := podSpec("never", registry+"/does-not-exist:1")
	createPod(t, ns, waiting)
	waitPod(t, ns, "never", 60*time.Second, "waiting on the image", waitingReasonIn("ErrImagePull", "ImagePullBackOff"))
	_, errOut, code = kubectl(t, "", "-n", ns, "logs", "never")
	if code == 0 || !strings.Contains(errOut, "is waiting to start") {
		t.Errorf("logs of a never-started container: exit %d, %q", code, errOut)
	}
}

func TestKubectlExec(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("shell", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	waitPod(t, ns, "shell", 60*time.Second, "Running", isRunningReady)

	out, errOut, code := kubectl(t, "", "-n", ns, "exec", "shell", "--", "sh", "-c", "echo to-out; echo to-err >&2; hostname")
	if code != 0 || out != "to-out\nshell\n" || !strings.Contains(errOut, "to-err") {
		t.Errorf("exec: stdout %q stderr %q exit %d", out, errOut, code)
	}
	if _, _, code = kubectl(t, "", "-n", ns, "exec", "shell", "--", "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec 'exit 3' exited %d, want 3", code)
	}
	if out, _, code = kubectl(t, "piped input\n", "-n", ns, "exec", "-i", "shell", "--", "cat"); code != 0 || out != "piped input\n" {
		t.Errorf("exec -i cat: %q exit %d", out, code)
	}
	if _, _, code = kubectl(t, "", "-n", ns, "exec", "shell", "--", "/no/such/binary"); code == 0 {
		t.Error("exec of a missing binary succeeded")
	}
	if _, errOut, code = kubectl(t, "", "-n", ns, "exec", "missing-pod", "--", "true"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("exec into a missing pod: exit %d, %q", code, errOut)
	}
}

func TestKubectlPortForward(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("pf", busybox, "sh", "-c", "dd if=/dev/urandom of=/tmp/blob bs=1M count=20 2>/dev/null; sha256sum /tmp/blob | cut -c1-64 > /tmp/sum; trap 'exit 0' TERM; while true; do nc -l -p 9000 < /tmp/blob; done & wait")
	createPod(t, ns, pod)
	waitPod(t, ns, "pf", 60*time.Second, "Running", isRunningReady)
	time.Sleep(2 * time.Second) // the blob is written

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, envOr("VKC_E2E_KUBECTL", "kubectl"), "-n", ns, "port-forward", "pod/pf", fmt.Sprintf("%d:9000", port), fmt.Sprintf("%d:9001", port+1))
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	for i := 0; i < 50; i++ {
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("port-forward never listened: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, conn)
	conn.Close()
	if err != nil || n != 20<<20 {
		t.Fatalf("received %d bytes (%v), want %d", n, err, 20<<20)
	}
	out, _, _ := kubectl(t, "", "-n", ns, "exec", "pf", "--", "cat", "/tmp/sum")
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != strings.TrimSpace(out) {
		t.Fatalf("sha256 through port-forward %s, in the pod %s", got, strings.TrimSpace(out))
	}
	// A connection to a port nothing listens on fails; the node keeps
	// serving the pod's other ports (the blob server answers again).
	if bad, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port+1)); err == nil {
		_, _ = io.Copy(io.Discard, bad)
		bad.Close()
	}
	cancel()
	_ = cmd.Wait()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	cmd2 := exec.CommandContext(ctx2, envOr("VKC_E2E_KUBECTL", "kubectl"), "-n", ns, "port-forward", "pod/pf", fmt.Sprintf("%d:9000", port))
	cmd2.Env = os.Environ()
	if err := cmd2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel2(); _ = cmd2.Wait() }()
	var n2 int64
	for i := 0; i < 50 && n2 == 0; i++ {
		if c2, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			n2, _ = io.Copy(io.Discard, c2)
			c2.Close()
		}
		if n2 == 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if n2 != 20<<20 {
		t.Fatalf("after a failed connection, a new forward received %d bytes, want %d", n2, 20<<20)
	}
}

// TestKubeletAPIAuth talks to the node's kubelet API directly: /healthz is
// open, anonymous requests are refused, and a token without RBAC for the
// node's subresources is refused for exec, logs and port-forward paths.
func TestKubeletAPIAuth(t *testing.T) {
	requireNode(t, "not on the node: the kubelet API is reached at the node's address")
	ns := testNamespace(t)
	base := fmt.Sprintf("https://%s:10250", nodeIP(t))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz anonymous: %d, want 200", code)
	}
	if code := get("/pods", ""); code != http.StatusUnauthorized {
		t.Errorf("/pods anonymous: %d, want 401", code)
	}
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), "default",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/pods", "/containerLogs/" + ns + "/x/y", "/exec/" + ns + "/x/y?command=true", "/portForward/" + ns + "/x", "/stats/summary"} {
		if code := get(path, tr.Status.Token); code != http.StatusForbidden {
			t.Errorf("%s with a token without RBAC: %d, want 403", path, code)
		}
	}
}
