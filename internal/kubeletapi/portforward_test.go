package kubeletapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// TestPortForwardErrorStaysOnItsStream opens two forwarded connections on one
// port-forward session: one to a port that answers, one to a port that
// fails. The failure reaches only its own error stream; the other
// connection goes on working. (kubectl itself then ends the whole session,
// which is its choice, not the node's.)
func TestPortForwardErrorStaysOnItsStream(t *testing.T) {
	forward := func(_ context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
		defer stream.Close()
		if port != 9000 {
			return fmt.Errorf("dial tcp 127.0.0.1:%d: connect: connection refused", port)
		}
		_, err := io.Copy(stream, stream) // echo
		return err
	}
	srv := httptest.NewServer(routes(api.PodHandlerConfig{PortForward: forward, StreamIdleTimeout: time.Minute, StreamCreationTimeout: 10 * time.Second}, nil))
	defer srv.Close()

	rt, upgrader, err := spdy.RoundTripperFor(&restclient.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL + "/portForward/ns/pod")
	conn, _, err := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u).Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	open := func(port, id string) (errStream, data httpstream.Stream) {
		h := http.Header{}
		h.Set(corev1.PortHeader, port)
		h.Set(corev1.PortForwardRequestIDHeader, id)
		h.Set(corev1.StreamType, corev1.StreamTypeError)
		if errStream, err = conn.CreateStream(h); err != nil {
			t.Fatal(err)
		}
		errStream.Close() // the client only reads its error stream
		h.Set(corev1.StreamType, corev1.StreamTypeData)
		if data, err = conn.CreateStream(h); err != nil {
			t.Fatal(err)
		}
		return errStream, data
	}
	echo := func(s httpstream.Stream, msg string) {
		t.Helper()
		if _, err := s.Write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, buf, err)
		}
	}

	_, good := open("9000", "0")
	echo(good, "before")
	badErr, _ := open("9001", "1")
	msg, _ := io.ReadAll(badErr)
	if !strings.Contains(string(msg), "connection refused") {
		t.Fatalf("error stream of the failed connection: %q", msg)
	}
	echo(good, "after a failed connection")
	_, again := open("9000", "2")
	echo(again, "a new connection")
}
