package provider

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// hostPort is a port of the node that a pod's container asks for.
type hostPort struct {
	ip       string
	port     int32
	protocol corev1.Protocol
}

// anyIP is the host IP of a hostPort that names none: every address.
const anyIP = "0.0.0.0"

// hostPortsOf lists the host ports of the pod's containers and init
// containers, with the API's defaults filled in.
func hostPortsOf(pod *corev1.Pod) []hostPort {
	var out []hostPort
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, port: p.HostPort, protocol: p.Protocol}
				if hp.ip == "" {
					hp.ip = anyIP
				}
				if hp.protocol == "" {
					hp.protocol = corev1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	return out
}

// conflicts reports whether two pods could not both hold these ports: the
// same port and protocol on the same address, or on every address.
func (a hostPort) conflicts(b hostPort) bool {
	return a.port == b.port && a.protocol == b.protocol && (a.ip == b.ip || a.ip == anyIP || b.ip == anyIP)
}

// hostPortsFailure is how the kubelet refuses a pod whose host ports another
// pod of the node holds (its NodePorts admission predicate).
var hostPortsFailure = failure{"NodePorts",
	"Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"}

// claimHostPorts records that the pod holds its host ports, unless another
// pod that is not done holds one of them; then it records nothing and
// returns false. An adopted pod (force) was admitted before and claims its
// ports whatever the others hold. The check and the record are one step, so
// two pods admitted at once cannot take the same port.
func (p *Pods) claimHostPorts(uid types.UID, ports []hostPort, force bool) bool {
	if len(ports) == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force {
		for other, held := range p.hostPorts {
			if other == uid {
				continue
			}
			for _, h := range held {
				for _, want := range ports {
					if h.conflicts(want) {
						return false
					}
				}
			}
		}
	}
	p.hostPorts[uid] = ports
	return true
}
