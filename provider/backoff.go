package provider

import "time"

// Restart back-off of crashing containers, with the kubelet's timing: a
// container that exits is restarted at once the first time, then after 10 s,
// doubling up to 5 min; a container that ran for 10 min starts over.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 2 * backoffMax
)

// nextBackoff returns the delay before restarting a container that exited
// after running for ran, given the delay applied before its own start.
func nextBackoff(previous, ran time.Duration) time.Duration {
	if ran >= backoffReset {
		return 0
	}
	if previous == 0 {
		return backoffInitial
	}
	if previous*2 > backoffMax {
		return backoffMax
	}
	return previous * 2
}
