package media

import "context"

// flight is one piece of work (a probe, a thumbnail, a keyframe scan)
// that concurrent callers share.
type flight struct {
	done chan struct{}
	v    any
	err  error
}

// once runs fn for key unless a run for key is in flight, in which case
// it waits for that one. fn runs under the service's context (it is not
// cut short when the first caller goes away, since others may wait); a
// caller whose ctx ends stops waiting.
func (s *Service) once(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	f, ok := s.flight[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		s.flight[key] = f
		base := s.ctx
		if isBackground(ctx) {
			base = withBackground(base)
		}
		ok := s.goFunc(func() {
			f.v, f.err = fn(base)
			s.mu.Lock()
			delete(s.flight, key)
			s.mu.Unlock()
			close(f.done)
		})
		if !ok {
			f.err = ErrClosed
			delete(s.flight, key)
			close(f.done)
		}
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type backgroundKey struct{}

// withBackground marks ctx as background work: every process started
// under it runs at the lowest CPU and I/O priority.
func withBackground(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

func isBackground(ctx context.Context) bool { return ctx.Value(backgroundKey{}) != nil }
