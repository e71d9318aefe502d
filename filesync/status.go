package filesync

import (
	"sort"
	"sync"
	"time"
)

// Pair states.
const (
	StateStarting = "starting"
	StateScanning = "scanning" // a full scan is running
	StateSyncing  = "syncing"  // changes are being applied
	StateIdle     = "idle"     // in step; watching for changes
	StateRefused  = "refused"  // stopped short of something unsafe (see Reason); retried
	StateError    = "error"    // cannot run (see Reason); retried
	StateDone     = "done"     // one-shot: everything copied
	StateFailed   = "failed"   // one-shot: finished with errors or refused
	StateStopped  = "stopped"
)

// FileError is the last error of one path (cleared when it syncs).
type FileError struct {
	Path     string    `json:"path"`
	Error    string    `json:"error"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
}

// Status describes one sync pair (GET /api/sync).
type Status struct {
	ID      string `json:"id"`
	Local   string `json:"local"`
	Cluster string `json:"cluster"`
	Mode    string `json:"mode"`
	Once    bool   `json:"once"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`

	FilesPending int64 `json:"files_pending"`
	BytesPending int64 `json:"bytes_pending"`
	// Done counts since this pair started in this process.
	FilesDone int64 `json:"files_done"`
	BytesDone int64 `json:"bytes_done"`
	Deleted   int64 `json:"deleted"`
	Renamed   int64 `json:"renamed"`
	Conflicts int64 `json:"conflicts"`
	// Skipped counts special files (FIFOs, sockets, devices) passed over.
	Skipped int64 `json:"skipped_special"`
	// Files is the number of files and symlinks in step.
	Files    int         `json:"files"`
	Errors   []FileError `json:"errors"`
	Warnings []string    `json:"warnings,omitempty"`

	StartedAt time.Time `json:"started_at"`
	LastSync  time.Time `json:"last_sync,omitzero"` // end of the last complete round
	Scans     int       `json:"scans"`              // full scans done
}

// maxErrors bounds the errors a status keeps (the newest).
const maxErrors = 100

// statusBox guards a pair's status.
type statusBox struct {
	mu     sync.Mutex
	s      Status
	errors map[string]*FileError
}

func (b *statusBox) add(fn func(*Status)) {
	b.mu.Lock()
	fn(&b.s)
	b.mu.Unlock()
}

func (b *statusBox) setError(rel string, err error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.errors == nil {
		b.errors = map[string]*FileError{}
	}
	fe := b.errors[rel]
	if fe == nil {
		fe = &FileError{Path: rel}
		b.errors[rel] = fe
	}
	fe.Error, fe.At = err.Error(), time.Now()
	fe.Attempts++
	if len(b.errors) > maxErrors { // drop the oldest
		var oldest *FileError
		for _, x := range b.errors {
			if oldest == nil || x.At.Before(oldest.At) {
				oldest = x
			}
		}
		delete(b.errors, oldest.Path)
	}
	return fe.Attempts
}

func (b *statusBox) clearError(rel string) {
	b.mu.Lock()
	delete(b.errors, rel)
	b.mu.Unlock()
}

func (b *statusBox) errorCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.errors)
}

func (b *statusBox) get() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Errors = make([]FileError, 0, len(b.errors))
	for _, fe := range b.errors {
		s.Errors = append(s.Errors, *fe)
	}
	sort.Slice(s.Errors, func(i, j int) bool { return s.Errors[i].Path < s.Errors[j].Path })
	s.Warnings = append([]string(nil), s.Warnings...)
	return s
}
