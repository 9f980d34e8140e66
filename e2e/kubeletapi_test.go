//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
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
	certificatesv1 "k8s.io/api/certificates/v1"
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

// TestKubectlLogsLines: a 200 KB line, binary bytes, --since-time,
// --all-containers and -c, read back through kubectl as written.
func TestKubectlLogsLines(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("lines", busybox, "sh", "-c", `head -c 200000 /dev/zero | tr '\0' x; echo; printf 'bin:\001\002\177\200\376\377\r.\n'; sleep 2; echo late; sleep 3600`)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "second", Image: busybox, Command: []string{"sh", "-c", "echo from-second; sleep 3600"}})
	createPod(t, ns, pod)
	waitPod(t, ns, "lines", 60*time.Second, "Running", isRunningReady)
	var out string
	eventually(t, 30*time.Second, "the late line", func(context.Context) (bool, error) {
		out, _, _ = kubectl(t, "", "-n", ns, "logs", "lines", "-c", "main")
		return strings.HasSuffix(out, "late\n"), nil
	})
	want := strings.Repeat("x", 200000) + "\nbin:\x01\x02\x7f\x80\xfe\xff\r.\nlate\n"
	if out != want {
		t.Errorf("logs -c main: %d bytes, want %d; tail %q", len(out), len(want), out[max(0, len(out)-40):])
	}
	stamped, _, _ := kubectl(t, "", "-n", ns, "logs", "lines", "-c", "main", "--timestamps", "--tail=1")
	since := strings.Fields(stamped)[0]
	if out, _, _ = kubectl(t, "", "-n", ns, "logs", "lines", "-c", "main", "--since-time="+since); out != "late\n" {
		t.Errorf("logs --since-time=%s: %q, want %q", since, out, "late\n")
	}
	out, _, _ = kubectl(t, "", "-n", ns, "logs", "lines", "--all-containers", "--tail=1")
	if !strings.Contains(out, "late\n") || !strings.Contains(out, "from-second\n") {
		t.Errorf("logs --all-containers --tail=1: %q", out)
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

// kubectlTTY runs kubectl under a pseudo-terminal of cols x rows (with
// util-linux's script), feeding it input, and returns what the terminal showed.
func kubectlTTY(t *testing.T, input string, cols, rows int, args ...string) string {
	t.Helper()
	line := fmt.Sprintf("stty cols %d rows %d; exec %s", cols, rows, envOr("VKC_E2E_KUBECTL", "kubectl"))
	for _, a := range args {
		line += " '" + a + "'"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", line, "/dev/null")
	cmd.Env = os.Environ()
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %v under a terminal: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestKubectlExecTTY(t *testing.T) {
	ns := testNamespace(t)
	createPod(t, ns, podSpec("shell", busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"))
	waitPod(t, ns, "shell", 60*time.Second, "Running", isRunningReady)
	out := kubectlTTY(t, "", 123, 45, "-n", ns, "exec", "-it", "shell", "--", "sh", "-c", "tty; stty size")
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "45 123") {
		t.Fatalf("exec -it: want a pty of 45 rows and 123 columns, the terminal showed %q", out)
	}
}

func TestKubectlAttach(t *testing.T) {
	ns := testNamespace(t)
	pod := podSpec("attach", busybox, "sh", "-c", "for i in $(seq 1 30); do echo tick-$i; echo tock-$i >&2; sleep 0.3; done")
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.Containers = append(pod.Spec.Containers,
		corev1.Container{Name: "reader", Image: busybox, Stdin: true, StdinOnce: true,
			Command: []string{"sh", "-c", "while read l; do echo got:$l; done; echo input-closed"}},
		corev1.Container{Name: "tty", Image: busybox, Stdin: true, TTY: true, Command: []string{"sh"}},
	)
	createPod(t, ns, pod)
	waitPod(t, ns, "attach", 60*time.Second, "Running", isRunningReady)

	// Input to a container without stdin, and a missing container, are refused.
	if _, errOut, code := kubectl(t, "x\n", "-n", ns, "attach", "-i", "attach", "-c", "main"); code == 0 || !strings.Contains(errOut, "stdin") {
		t.Errorf("attach -i to a container without stdin: exit %d, %q", code, errOut)
	}
	if _, errOut, code := kubectl(t, "", "-n", ns, "attach", "attach", "-c", "nope"); code == 0 || !strings.Contains(errOut, "nope") {
		t.Errorf("attach to a missing container: exit %d, %q", code, errOut)
	}
	// Output from the moment of attach until the container exits, the two
	// streams apart.
	out, errOut, code := kubectl(t, "", "-n", ns, "attach", "attach", "-c", "main")
	if code != 0 || !strings.HasSuffix(out, "tick-30\n") || !strings.Contains(errOut, "tock-30") || strings.Contains(out, "tock-") {
		t.Errorf("attach: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// stdin: the input reaches the process; with stdinOnce its end closes
	// the process's stdin.
	out, errOut, code = kubectl(t, "one\ntwo\n", "-n", ns, "attach", "-i", "attach", "-c", "reader")
	if code != 0 || !strings.Contains(out, "got:one\ngot:two\ninput-closed\n") {
		t.Errorf("attach -i: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A terminal of the client's size. kubectl attach resizes twice (to
	// make the program redraw), so the shell waits for the second.
	out = kubectlTTY(t, "sleep 1; stty size\necho $((6*7))\nexit\n", 123, 45, "-n", ns, "attach", "-it", "attach", "-c", "tty")
	if !strings.Contains(out, "45 123") || !strings.Contains(out, "42") {
		t.Errorf("attach -it: the terminal showed %q", out)
	}
}

// portForward starts `kubectl port-forward pod/name` from free local ports
// to the given pod ports and returns the local ports once the first listens.
func portForward(t *testing.T, ns, name string, podPorts ...int) []int {
	t.Helper()
	var local []int
	var args []string
	for _, pp := range podPorts {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		local = append(local, l.Addr().(*net.TCPAddr).Port)
		l.Close()
		args = append(args, fmt.Sprintf("%d:%d", local[len(local)-1], pp))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, envOr("VKC_E2E_KUBECTL", "kubectl"), append([]string{"-n", ns, "port-forward", "pod/" + name}, args...)...)
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	// Wait for kubectl to say it listens: a test connection would reach a
	// pod port that may not listen yet, and kubectl ends the whole forward
	// on any failed connection.
	listening := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		seen := 0
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Forwarding from 127.0.0.1:") {
				if seen++; seen == len(podPorts) {
					listening <- true
				}
			}
		}
		listening <- false
	}()
	select {
	case ok := <-listening:
		if ok {
			return local
		}
	case <-time.After(30 * time.Second):
	}
	t.Fatalf("port-forward to %s never listened", name)
	return nil
}

// fetchSHA256 GETs url and returns the size and sha256 of the body.
func fetchSHA256(url string) (int64, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return n, fmt.Sprintf("%x", h.Sum(nil)), err
}

func TestKubectlPortForward(t *testing.T) {
	const size = 100 << 20
	ns := testNamespace(t)
	// busybox httpd serves a 100 MiB random blob and its sha256, to many
	// clients at once.
	pod := podSpec("pf", busybox, "sh", "-c", "mkdir /www && dd if=/dev/urandom of=/www/blob bs=1M count=100 2>/dev/null && sha256sum /www/blob | cut -c1-64 > /www/sum && exec httpd -f -p 9000 -h /www")
	createPod(t, ns, pod)
	waitPod(t, ns, "pf", 60*time.Second, "Running", isRunningReady)

	// Forward only once the server answers inside the pod: kubectl ends a
	// forward whose first connection is refused.
	var want string
	eventually(t, 60*time.Second, "the blob server", func(context.Context) (bool, error) {
		out, _, code := kubectl(t, "", "-n", ns, "exec", "pf", "--", "wget", "-qO-", "http://127.0.0.1:9000/sum")
		want = strings.TrimSpace(out)
		return code == 0 && len(want) == 64, nil
	})
	ports := portForward(t, ns, "pf", 9000, 9001)
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	// Four 100 MiB transfers at once arrive intact.
	type result struct {
		n   int64
		sum string
		err error
	}
	results := make(chan result, 4)
	for range 4 {
		go func() {
			n, sum, err := fetchSHA256(base + "/blob")
			results <- result{n, sum, err}
		}()
	}
	for range 4 {
		r := <-results
		if r.err != nil || r.n != size || r.sum != want {
			t.Fatalf("concurrent transfer: %d bytes, sha256 %s, error %v; want %d bytes, %s", r.n, r.sum, r.err, size, want)
		}
	}
	// A connection to a port nothing listens on fails. kubectl then ends
	// the whole forward ("lost connection to pod"), so the node's side is
	// checked with a new forward to the same pod.
	if bad, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[1])); err == nil {
		_ = bad.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, _ := io.Copy(io.Discard, bad); n != 0 {
			t.Errorf("a forward to a closed pod port returned %d bytes", n)
		}
		bad.Close()
	}
	ports = portForward(t, ns, "pf", 9000)
	if n, sum, err := fetchSHA256(fmt.Sprintf("http://127.0.0.1:%d/blob", ports[0])); err != nil || n != size || sum != want {
		t.Fatalf("after a refused port, a new forward received %d bytes (sha256 %s, %v)", n, sum, err)
	}
}

// TestKubeletAPIAuth talks to the node's kubelet API directly: /healthz is
// open, anonymous requests are refused, and a token without RBAC for the
// node's subresources is refused for exec, logs and port-forward paths.
func TestKubeletAPIAuth(t *testing.T) {
	requireNode(t, "not on the node: the kubelet API is reached at the node's address")
	ns := testNamespace(t)
	base := "https://" + kubeletAddr(t)
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

// TestServingCertificateFromCluster: the node serves the kubelet API with a
// certificate that the cluster's kubelet-serving signer issued: it verifies
// against the cluster's CA (whose key the node does not have) and names the
// node as that signer requires. (The CertificateSigningRequest itself may be
// gone: the controller-manager deletes issued requests after an hour.)
func TestServingCertificateFromCluster(t *testing.T) {
	requireNode(t, "not on the node: the kubelet API is reached at the node's address")
	ca := restConfig.TLSClientConfig.CAData
	if len(ca) == 0 {
		var err error
		if ca, err = os.ReadFile(restConfig.TLSClientConfig.CAFile); err != nil {
			t.Fatalf("the cluster's CA: %v", err)
		}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("the kubeconfig's CA does not parse")
	}
	ip := nodeIP(t)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", kubeletAddr(t),
		&tls.Config{RootCAs: roots, ServerName: ip})
	if err != nil {
		t.Fatalf("the kubelet API's certificate does not verify against the cluster's CA: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if leaf.Subject.CommonName != "system:node:"+nodeName || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:nodes" {
		t.Errorf("serving certificate subject %v, want CN=system:node:%s, O=system:nodes", leaf.Subject, nodeName)
	}
	// A request the node made recently is on record; an older one may be gone.
	csrs, err := client.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, csr := range csrs.Items {
		if block, _ := pem.Decode(csr.Status.Certificate); block != nil && bytes.Equal(block.Bytes, leaf.Raw) {
			if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName || csr.Spec.Username != "system:node:"+nodeName {
				t.Errorf("the serving certificate came from a %s request of %s", csr.Spec.SignerName, csr.Spec.Username)
			}
		}
	}
}
