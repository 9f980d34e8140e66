// Package crilog writes and reads container logs in the CRI log format that
// the kubelet and the usual log tools use: one line per record,
//
//	2016-10-06T00:17:09.669794202Z stdout F a full line
//	2016-10-06T00:17:09.669794202Z stdout P the first part of a long line
//
// and rotates files by size (path, path.<timestamp>, ...).
package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// maxLine is where a long line is split into partial (P) records, as the kubelet does.
const maxLine = 16 * 1024

// Writer appends CRI records to a file and rotates it by size. It is safe
// for the concurrent use of the stdout and stderr copiers.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int
	now      func() time.Time

	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

// NewWriter opens path for appending. maxSize <= 0 disables rotation;
// maxFiles counts the current file too.
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 1), now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, info.Size()
	return nil
}

// PartialFlush is how long the start of a line may wait for its end before
// it is written as a partial (P) record, so output without a newline (a
// prompt, `echo -n`) reaches the log while the container still runs.
const PartialFlush = 50 * time.Millisecond

// Copy reads r to its end and writes each line as records of stream
// ("stdout" or "stderr"). A line longer than maxLine, or one whose end is
// slow to come, is written in partial (P) records that readers join, as
// the kubelet's do. A "\r\n" ending counts as "\n".
func (w *Writer) Copy(stream string, r io.Reader) error {
	chunks := make(chan []byte)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32*1024)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-done:
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	var pending []byte
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				if len(pending) > 0 {
					if err := w.record(stream, "P", pending); err != nil {
						return err
					}
				}
				if err := <-readErr; !errors.Is(err, io.EOF) {
					return err
				}
				return nil
			}
			var err error
			if pending, err = w.writeComplete(stream, append(pending, b...)); err != nil {
				return err
			}
			if len(pending) > 0 {
				flush.Reset(PartialFlush)
			}
		case <-flush.C:
			if len(pending) > 0 {
				if err := w.record(stream, "P", pending); err != nil {
					return err
				}
				pending = nil
			}
		}
	}
}

// writeComplete writes the full lines of buf, and full-size partial
// records of a long line, and returns what is left.
func (w *Writer) writeComplete(stream string, buf []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(buf, '\n')
		switch {
		case i >= 0 && i <= maxLine:
			if err := w.record(stream, "F", bytes.TrimSuffix(buf[:i], []byte("\r"))); err != nil {
				return nil, err
			}
			buf = buf[i+1:]
		case len(buf) >= maxLine:
			if err := w.record(stream, "P", buf[:maxLine]); err != nil {
				return nil, err
			}
			buf = buf[maxLine:]
		default:
			return buf, nil
		}
	}
}

func (w *Writer) record(stream, tag string, line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := fmt.Sprintf("%s %s %s %s\n", w.now().UTC().Format(time.RFC3339Nano), stream, tag, line)
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(rec)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.WriteString(rec)
	w.size += int64(n)
	return err
}

// rotate renames the current file with a timestamp and drops the oldest
// rotated files beyond maxFiles.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	rotated := w.path + "." + w.now().UTC().Format("20060102-150405.000000000")
	if err := os.Rename(w.path, rotated); err != nil {
		return err
	}
	old, _ := Rotated(w.path)
	for len(old) > w.maxFiles-1 {
		_ = os.Remove(old[0])
		old = old[1:]
	}
	return w.open()
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Rotated lists the rotated files of path, oldest first.
func Rotated(path string) ([]string, error) {
	files, err := filepath.Glob(path + ".*")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}
