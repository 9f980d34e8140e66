package main

import (
	"context"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/vk-containerd/vk-containerd/internal/bootstrap"
)

// approvalWait bounds the wait for the node's client certificate.
const approvalWait = 5 * time.Minute

// connectAPI is the client of the node's identity: from --kubeconfig, after
// a TLS bootstrap when --bootstrap-kubeconfig is given; stop ends the
// certificate's renewal.
func connectAPI(ctx context.Context, cfg Config) (_ kubernetes.Interface, stop func(), err error) {
	stop = func() {}
	if cfg.BootstrapKubeconfig != "" {
		certs, err := bootstrap.Identity(ctx, bootstrap.Config{
			NodeName:            cfg.NodeName,
			BootstrapKubeconfig: cfg.BootstrapKubeconfig,
			Kubeconfig:          cfg.Kubeconfig,
			CertDir:             cfg.certDir(),
			Wait:                approvalWait,
		})
		if err != nil {
			return nil, nil, err
		}
		certs.Start()
		stop = certs.Stop
	}
	client, err := NewClient(ctx, cfg.Kubeconfig)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return client, stop, nil
}

// reportSetupFailure writes why the agent could not start as a Warning event
// of the node (the kubelet's KubeletSetupFailed), so that `kubectl describe
// node` says it as the agent's log does. The event is written at once: the
// agent exits next.
func reportSetupFailure(client kubernetes.Interface, nodeName string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: nodeName + ".", Namespace: metav1.NamespaceDefault},
		// The kubelet refers to its node with the node name as uid.
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: nodeName, UID: types.UID(nodeName)},
		Reason:         "KubeletSetupFailed",
		Message:        cause.Error(),
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: nodeName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "kubelet", ReportingInstance: nodeName,
	}
	if _, err := client.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		log.G(ctx).WithError(err).Warn("could not record the setup failure as an event of the node")
	}
}
