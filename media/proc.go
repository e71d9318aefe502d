package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is one running ffmpeg or ffprobe. Every child process of the
// package is started by startProc: it dies when ctx ends (SIGKILL), when
// this process dies (PR_SET_PDEATHSIG), and wait reaps it.
type proc struct {
	s      *Service
	cmd    *exec.Cmd
	stderr *tailBuffer
	done   chan struct{} // closed when the process was reaped
	err    error         // exit error, valid after done
}

// procOptions tune startProc.
type procOptions struct {
	stdout io.Writer // nil: use stdoutPipe
	pipe   bool      // return a pipe of stdout; the caller reads it and closes it
	// background lowers the process's CPU priority (nice 19) and I/O
	// priority (idle class): the auto pre-transcoding must never starve
	// FUSE, REST or replication.
	background bool
}

// Programs run by startProc.
const (
	ffmpeg = iota
	ffprobe
)

// startProc starts ffmpeg or ffprobe with args. With opts.pipe it returns
// stdout as a pipe the caller reads until EOF before calling wait.
func (s *Service) startProc(ctx context.Context, prog int, args []string, opts procOptions) (*proc, io.ReadCloser, error) {
	path := s.ffmpeg
	if prog == ffprobe {
		path = s.ffprobe
	}
	if path == "" {
		return nil, nil, ErrUnavailable
	}
	opts.background = opts.background || isBackground(ctx)
	// Every child ends with the service, whatever ctx the caller passed.
	ctx, cancel := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(s.ctx, cancel)
	var cmd *exec.Cmd
	if prog == ffprobe {
		cmd = exec.CommandContext(ctx, "ffprobe", args...)
	} else {
		cmd = exec.CommandContext(ctx, "ffmpeg", args...)
	}
	cmd.Path, cmd.Err = path, nil // the program New found (Config.FFmpeg, or PATH)
	cmd.Env = []string{"AV_LOG_FORCE_NOCOLOR=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	p := &proc{s: s, cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	var out, w *os.File
	if opts.pipe {
		// An os.Pipe, not StdoutPipe: Wait runs concurrently with the
		// reader and must not close the read end before it saw EOF.
		var err error
		if out, w, err = os.Pipe(); err != nil {
			cancel()
			return nil, nil, err
		}
		cmd.Stdout = w
	} else {
		cmd.Stdout = opts.stdout
	}
	started := make(chan error, 1)
	var ok bool
	spawn := func() {
		defer cancel()
		defer stopAfter()
		err := cmd.Start()
		if w != nil {
			w.Close() // the child holds its own copy
		}
		if err == nil {
			s.procs.Add(1)
		}
		started <- err
		if err != nil {
			return
		}
		p.err = cmd.Wait()
		s.procs.Add(-1)
		close(p.done)
	}
	if opts.background {
		// The child inherits the priorities of the thread that forks it,
		// and PR_SET_PDEATHSIG fires when that thread ends: fork from a
		// locked thread with lowered priorities that lives until the
		// child is reaped, then let the runtime discard the thread.
		ok = s.goFunc(func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			tid := unix.Gettid()
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
			_, _, _ = unix.Syscall(unix.SYS_IOPRIO_SET, 1 /* IOPRIO_WHO_PROCESS */, uintptr(tid), 3<<13 /* IOPRIO_CLASS_IDLE */)
			spawn()
		})
	} else {
		ok = s.goFunc(spawn)
	}
	if !ok { // closed: nothing was started
		cancel()
		stopAfter()
		if w != nil {
			w.Close()
			out.Close()
		}
		return nil, nil, ErrClosed
	}
	if err := <-started; err != nil {
		if out != nil {
			out.Close()
		}
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	if out == nil {
		return p, nil, nil
	}
	return p, out, nil
}

// wait waits for the process and returns its exit error: nil, the
// context's error when ctx ended it, or an error wrapping ErrTranscode
// with the end of its stderr.
func (p *proc) wait(ctx context.Context) error {
	<-p.done
	if p.err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if p.s.ctx.Err() != nil {
		return ErrClosed
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("%w: %s was %w (%s)%s", ErrTranscode, p.name(), errKilled, ws.Signal(), p.reason(": "))
		}
	}
	return fmt.Errorf("%w: %s: %s%s", ErrTranscode, p.name(), p.err, p.reason(": "))
}

// name is the program's base name.
func (p *proc) name() string { return baseName(p.cmd.Path) }

// reason returns the last meaningful stderr lines, prefixed, or "".
func (p *proc) reason(prefix string) string {
	r := lastLines(p.stderr.String(), 3)
	if r == "" {
		return ""
	}
	return prefix + r
}

// lastLines returns up to n last non-empty lines of s joined by "; ".
func lastLines(s string, n int) string {
	var out []string
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		out = append([]string{l}, out...)
	}
	return strings.Join(out, "; ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.b, nil))
}

// output runs prog to completion and returns its stdout (at most max
// bytes; more is an error).
func (s *Service) output(ctx context.Context, prog int, args []string, max int) ([]byte, *proc, error) {
	var buf limitedBuffer
	buf.max = max
	p, _, err := s.startProc(ctx, prog, args, procOptions{stdout: &buf})
	if err != nil {
		return nil, nil, err
	}
	err = p.wait(ctx)
	if buf.over {
		return nil, p, fmt.Errorf("%w: output larger than %d bytes", ErrTranscode, max)
	}
	return buf.b.Bytes(), p, err
}

// limitedBuffer is a bytes.Buffer that drops what goes beyond max.
type limitedBuffer struct {
	b    bytes.Buffer
	max  int
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		l.over = true
		return len(p), nil
	}
	return l.b.Write(p)
}
