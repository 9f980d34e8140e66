package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// localTarget dials the test's own servers on loopback.
func localTarget() Target {
	return Target{
		PodIP:     "127.0.0.1",
		UserAgent: "kube-probe/test",
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}
}

func portOf(t *testing.T, url string) int32 {
	t.Helper()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	var n int32
	fmt.Sscan(p, &n)
	return n
}

func TestHTTPGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("User-Agent") != "kube-probe/test" || r.Header.Get("X-Probe") != "yes" || r.Host != "custom.host" {
				http.Error(w, "wrong headers", http.StatusBadRequest)
			}
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/elsewhere":
			http.Redirect(w, r, "http://192.0.2.1/", http.StatusFound)
		default:
			http.Error(w, "no such page", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	port := portOf(t, srv.URL)
	tg := localTarget()
	tg.Ports = []corev1.ContainerPort{{Name: "web", ContainerPort: port}}
	check := func(path string, p intstr.IntOrString) error {
		h := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: p,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "custom.host"}}}}
		return Check(context.Background(), h, tg, time.Second)
	}
	if err := check("/ok", intstr.FromString("web")); err != nil {
		t.Errorf("healthy page by port name: %v", err)
	}
	if err := check("/redirect", intstr.FromInt32(port)); err != nil {
		t.Errorf("redirect on the same host: %v", err)
	}
	if err := check("/elsewhere", intstr.FromInt32(port)); err != nil {
		t.Errorf("redirect to another host counts as success: %v", err)
	}
	if err := check("/broken", intstr.FromInt32(port)); err == nil || !strings.Contains(err.Error(), "statuscode: 500") {
		t.Errorf("a 500 page: %v", err)
	}
	if err := check("/ok", intstr.FromString("nope")); err == nil || !strings.Contains(err.Error(), `no container port named "nope"`) {
		t.Errorf("unknown port name: %v", err)
	}
}

func TestTCPSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(l.Addr().(*net.TCPAddr).Port)
	h := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}}
	if err := Check(context.Background(), h, localTarget(), time.Second); err != nil {
		t.Errorf("listening port: %v", err)
	}
	l.Close()
	if err := Check(context.Background(), h, localTarget(), time.Second); err == nil {
		t.Error("a closed port passed")
	}
}

func TestExec(t *testing.T) {
	tg := localTarget()
	tg.Exec = func(ctx context.Context, cmd []string, out io.Writer) (int, error) {
		switch cmd[0] {
		case "fail":
			fmt.Fprint(out, "broken\n")
			return 2, nil
		case "hang":
			<-ctx.Done()
			return 0, ctx.Err()
		}
		return 0, nil
	}
	run := func(cmd string) error {
		return Check(context.Background(), corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, tg, 100*time.Millisecond)
	}
	if err := run("ok"); err != nil {
		t.Errorf("exit 0: %v", err)
	}
	if err := run("fail"); err == nil || !strings.Contains(err.Error(), "exited with 2: broken") {
		t.Errorf("exit 2: %v", err)
	}
	if err := run("hang"); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("a command past its timeout: %v", err)
	}
}

func TestSleepHook(t *testing.T) {
	start := time.Now()
	if err := Run(context.Background(), &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}, localTarget()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("slept %v, want 1s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_ = Run(ctx, &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}, localTarget())
	if time.Since(start) > 5*time.Second {
		t.Error("a sleep hook outlived its context")
	}
}
