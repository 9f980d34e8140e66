package provider

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vk-containerd/vk-containerd/internal/crilog"
	"github.com/vk-containerd/vk-containerd/internal/ctrd"
)

// The kubelet's bounds on a termination message, and on the log tail that
// stands in for it under FallbackToLogsOnError.
const (
	maxTerminationMessage = 4096
	fallbackLogLines      = 80
	fallbackLogBytes      = 2048
	// logSettle is how long after an exit its log is complete.
	logSettle = 4 * crilog.PartialFlush
)

// terminationMount creates attempt id's termination message file and
// returns its mount, or false when the container has no message path.
func (w *worker) terminationMount(c *corev1.Container, id string) (src, dst string, ok bool, err error) {
	if c.TerminationMessagePath == "" {
		return "", "", false, nil
	}
	path := w.dir.Termination(id)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", "", false, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return "", "", false, err
	}
	f.Close()
	// Any user of the container may write its message.
	if err := os.Chmod(path, 0o666); err != nil {
		return "", "", false, err
	}
	return path, c.TerminationMessagePath, true, nil
}

// readMessages reads the termination message of every attempt that ended
// since the last pass, once per attempt, so that building the status reads
// no file. Under FallbackToLogsOnError it may wait for the log writer to
// settle (logSettle after the exit).
func (w *worker) readMessages(pod *corev1.Pod) {
	for _, r := range w.records {
		c := specOf(pod, r.name)
		for _, st := range []*ctrd.ContainerStatus{r.current, r.previous} {
			if st == nil || st.State != ctrd.StateExited || st.Labels[ctrd.LabelStartError] != "" {
				continue
			}
			if _, ok := w.messages[st.ID]; ok {
				continue
			}
			w.messages[st.ID] = w.readTerminationMessage(c, st)
		}
	}
}

// readTerminationMessage is what an ended attempt left for its status: the
// file's content, or, under FallbackToLogsOnError after a failure with an
// empty file, the tail of its log.
func (w *worker) readTerminationMessage(c *corev1.Container, st *ctrd.ContainerStatus) string {
	if c == nil {
		return ""
	}
	msg := readPrefix(w.dir.Termination(st.ID), maxTerminationMessage)
	if msg != "" || st.ExitCode == 0 || c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return msg
	}
	// The log writer holds the start of an unfinished last line back for
	// a moment before it writes it: give it that moment after the exit.
	if settle := time.Until(st.FinishedAt.Add(logSettle)); settle > 0 {
		time.Sleep(settle)
	}
	var out bytes.Buffer
	opts := crilog.Options{Tail: fallbackLogLines, LimitBytes: 1 << 20}
	if err := crilog.ReadLogs(context.Background(), w.dir.Log(c.Name, ctrd.Attempt(st.Labels)), opts, &out, func() bool { return true }); err != nil && !crilog.IsLimit(err) {
		return ""
	}
	tail := out.Bytes()
	if len(tail) > fallbackLogBytes {
		tail = tail[len(tail)-fallbackLogBytes:]
	}
	return string(tail)
}

func readPrefix(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
