package provider

import "fmt"

// podState is where a pod is in its life on this node. The worker holds
// exactly one; sync does the work of that state and nothing else, and moveTo
// is the only way to another state.
//
//	            admitted, sandbox and volumes ready
//	creating ──────────────────────────────────────▶ running
//	   │  refused by admission, past its deadline       │ every container done for good,
//	   │                                                │ an init container failed, past its deadline
//	   └──────────────────▶ terminal ◀─────────────────┘
//	                           │
//	creating, running, terminal│ deleted (from any of them)
//	                           ▼
//	                      terminating ── containers stopped, sandbox released ──▶ gone
type podState int

const (
	// stateCreating admits the pod, then builds its sandbox and volumes.
	// Nothing of the pod runs yet.
	stateCreating podState = iota
	// stateRunning starts the init containers in order, then the app
	// containers, and restarts them by the pod's restart policy.
	stateRunning
	// stateTerminal is Succeeded or Failed: nothing starts again, what still
	// runs (sidecars) is stopped, and the sandbox stays until deletion.
	stateTerminal
	// stateTerminating stops every container within the grace period, then
	// releases containers, volumes and the sandbox.
	stateTerminating
	// stateGone is the end: the pod holds nothing on the node and its
	// worker stops.
	stateGone
)

var stateNames = [...]string{"creating", "running", "terminal", "terminating", "gone"}

func (s podState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("podState(%d)", int(s))
}

// next lists the states each state may move to.
var next = map[podState][]podState{
	stateCreating:    {stateRunning, stateTerminal, stateTerminating},
	stateRunning:     {stateTerminal, stateTerminating},
	stateTerminal:    {stateTerminating},
	stateTerminating: {stateGone},
}

// canMoveTo reports whether a pod in s may move to to.
func (s podState) canMoveTo(to podState) bool {
	for _, n := range next[s] {
		if n == to {
			return true
		}
	}
	return false
}

// active reports whether containers of a pod in s may be started.
func (s podState) active() bool { return s == stateRunning }

// moveTo changes the worker's state. A move the table does not allow is a
// bug in the worker: it is refused, with an error that says which.
func (w *worker) moveTo(to podState) error {
	if w.state == to {
		return nil
	}
	if !w.state.canMoveTo(to) {
		return fmt.Errorf("pod %s/%s: no transition from %s to %s", w.namespace, w.name, w.state, to)
	}
	w.state = to
	return nil
}

// failure is why something did not happen, in the kubelet's words: a
// reason (a CamelCase word the API shows) and a message for people.
type failure struct {
	reason, message string
}

// none reports whether f records nothing.
func (f failure) none() bool { return f.reason == "" && f.message == "" }
