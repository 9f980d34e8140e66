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

// terminationFile is the host file mounted at the container's
// terminationMessagePath, one per attempt.
func (w *worker) terminationFile(id string) string {
	return filepath.Join(w.p.cfg.Sandboxes.PodDir(string(w.uid)), "termination", id)
}

// terminationMount creates attempt id's termination message file and
// returns its mount, or false when the container has no message path.
func (w *worker) terminationMount(c *corev1.Container, id string) (src, dst string, ok bool, err error) {
	if c.TerminationMessagePath == "" {
		return "", "", false, nil
	}
	path := w.terminationFile(id)
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

// terminationMessage is what an ended attempt left for its status: the
// file's content, or, under FallbackToLogsOnError after a failure with an
// empty file, the tail of its log.
func (w *worker) terminationMessage(c *corev1.Container, id string, attempt int, exitCode int32, finished time.Time) string {
	if c == nil || w.p.cfg.Sandboxes == nil {
		return ""
	}
	// An ended attempt's message does not change: read it once.
	if msg, ok := w.messages[id]; ok {
		return msg
	}
	msg := w.readTerminationMessage(c, id, attempt, exitCode, finished)
	w.messages[id] = msg
	return msg
}

func (w *worker) readTerminationMessage(c *corev1.Container, id string, attempt int, exitCode int32, finished time.Time) string {
	msg := readPrefix(w.terminationFile(id), maxTerminationMessage)
	if msg != "" || exitCode == 0 || c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		return msg
	}
	// The log writer holds the start of an unfinished last line back for
	// a moment before it writes it: give it that moment after the exit.
	if settle := time.Until(finished.Add(logSettle)); settle > 0 {
		time.Sleep(settle)
	}
	var out bytes.Buffer
	opts := crilog.Options{Tail: fallbackLogLines, LimitBytes: 1 << 20}
	if err := crilog.ReadLogs(context.Background(), w.logPath(c.Name, attempt), opts, &out, func() bool { return true }); err != nil && !crilog.IsLimit(err) {
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
