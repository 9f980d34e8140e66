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

	mu   sync.Mutex // guards f, size and torn
	f    *os.File   // nil after a failed reopen: the next record tries again
	size int64
	torn bool // the last write was cut short: the file ends inside a record
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
// the kubelet's do. A "\r\n" ending counts as "\n". Records that cannot
// be written (a full disk) are dropped and reading goes on: a container must
// never block on its own output. Copy returns the first write error.
func (w *Writer) Copy(stream string, r io.Reader) error {
	chunks := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32*1024)
			n, err := r.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	var writeErr error
	keep := func(err error) {
		if writeErr == nil {
			writeErr = err
		}
	}
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	var pending []byte
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				if len(pending) > 0 {
					if err := w.record(stream, "P", pending); err != nil {
						keep(err)
					}
				}
				if err := <-readErr; !errors.Is(err, io.EOF) {
					return err
				}
				return writeErr
			}
			var err error
			if pending, err = w.writeComplete(stream, append(pending, b...)); err != nil {
				keep(err)
			}
			if len(pending) > 0 {
				flush.Reset(PartialFlush)
			}
		case <-flush.C:
			if len(pending) > 0 {
				if err := w.record(stream, "P", pending); err != nil {
					keep(err)
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

// record writes one record. After a write the filesystem cut short, the
// next record starts with a newline: readers then skip the torn record
// alone, and every later one parses.
func (w *Writer) record(stream, tag string, line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	rec := fmt.Sprintf("%s %s %s %s\n", w.now().UTC().Format(time.RFC3339Nano), stream, tag, line)
	if w.torn {
		rec = "\n" + rec
	}
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(rec)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.WriteString(rec)
	w.size += int64(n)
	w.torn = (w.torn && n == 0) || (n > 0 && n < len(rec))
	return err
}

// rotate renames the current file with a timestamp and drops the oldest
// rotated files beyond maxFiles. When the rename fails the same file is
// reopened, and the next record tries again.
func (w *Writer) rotate() error {
	_ = w.f.Close()
	w.f = nil
	rotated := w.path + "." + w.now().UTC().Format("20060102-150405.000000000")
	renameErr := os.Rename(w.path, rotated)
	if renameErr == nil {
		w.torn = false // the torn record stays in the rotated file
		old, _ := Rotated(w.path)
		for len(old) > w.maxFiles-1 {
			_ = os.Remove(old[0])
			old = old[1:]
		}
	}
	if err := w.open(); err != nil {
		return err
	}
	return renameErr
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
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
