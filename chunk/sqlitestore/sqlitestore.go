package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"modernc.org/sqlite"

	"github.com/clusterf/clusterf/chunk"
)

var _ chunk.Store = (*Store)(nil)

// FileName is the database file inside the store directory.
const FileName = "chunks.sqlite"

const (
	lockName      = "LOCK"
	maxBatchReqs  = 512
	maxBatchBytes = 64 << 20
	listPage      = 1024
	sqliteFull    = 13 // SQLITE_FULL
)

const schema = `
CREATE TABLE IF NOT EXISTS chunks (id BLOB PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS usage (k INTEGER PRIMARY KEY CHECK (k = 0), chunks INTEGER NOT NULL, bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO usage (k, chunks, bytes) VALUES (0, 0, 0);`

type req struct {
	del  bool
	id   chunk.ID
	blob []byte
	done chan error
}

// Store is a chunk.Store in one SQLite database.
type Store struct {
	db   *sql.DB
	lock *os.File
	reqs chan *req
	stop chan struct{}
	wg   sync.WaitGroup

	closed atomic.Bool
	chunks atomic.Int64
	bytes  atomic.Int64
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", dir, err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlitestore: open %s: %w", dir, chunk.ErrLocked)
		}
		return nil, fmt.Errorf("sqlitestore: lock %s: %w", dir, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "wal_autocheckpoint(16384)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + filepath.Join(dir, FileName) + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", dir, err)
	}
	s := &Store{db: db, lock: lf, reqs: make(chan *req, maxBatchReqs), stop: make(chan struct{})}
	if err := s.init(); err != nil {
		db.Close()
		lf.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", dir, mapErr(err))
	}
	s.wg.Go(s.writer)
	return s, nil
}

func (s *Store) init() error {
	if _, err := s.db.Exec(schema); err != nil {
		return err
	}
	var n, b int64
	if err := s.db.QueryRow(`SELECT chunks, bytes FROM usage WHERE k = 0`).Scan(&n, &b); err != nil {
		return err
	}
	s.chunks.Store(n)
	s.bytes.Store(b)
	return nil
}

// mapErr makes a full disk errors.Is(err, syscall.ENOSPC).
func mapErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqliteFull {
		return fmt.Errorf("%w: %w", syscall.ENOSPC, err)
	}
	return err
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return chunk.ErrClosed
	}
	return ctx.Err()
}

// do hands r to the writer and waits for its transaction.
func (s *Store) do(r *req) error {
	r.done = make(chan error, 1)
	select {
	case s.reqs <- r:
	case <-s.stop:
		return chunk.ErrClosed
	}
	return <-r.done
}

// writer commits queued requests in batches until Close.
func (s *Store) writer() {
	for {
		var first *req
		select {
		case first = <-s.reqs:
		case <-s.stop:
			return
		}
		batch, size := []*req{first}, len(first.blob)
	fill:
		for len(batch) < maxBatchReqs && size < maxBatchBytes {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				size += len(r.blob)
			default:
				break fill
			}
		}
		err := s.commit(batch)
		for _, r := range batch {
			if err != nil && len(batch) > 1 {
				r.done <- s.commit([]*req{r}) // find the one at fault
			} else {
				r.done <- err
			}
		}
	}
}

// commit runs batch in one transaction and applies it to the counters.
func (s *Store) commit(batch []*req) (err error) {
	tx, err := s.db.Begin()
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = mapErr(err)
		}
	}()
	var dn, db int64
	for _, r := range batch {
		if r.del {
			var n int64
			err := tx.QueryRow(`DELETE FROM chunks WHERE id = ? RETURNING length(blob)`, r.id[:]).Scan(&n)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			dn, db = dn-1, db-n
			continue
		}
		res, err := tx.Exec(`INSERT INTO chunks (id, blob) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, r.id[:], r.blob)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			dn, db = dn+1, db+int64(len(r.blob))
		}
	}
	if dn != 0 || db != 0 {
		if _, err := tx.Exec(`UPDATE usage SET chunks = chunks + ?, bytes = bytes + ? WHERE k = 0`, dn, db); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.chunks.Add(dn)
	s.bytes.Add(db)
	return nil
}

// Put implements chunk.Store.
func (s *Store) Put(ctx context.Context, id chunk.ID, blob []byte) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("sqlitestore: put %s: %w", id, err)
	}
	if len(blob) == 0 {
		return fmt.Errorf("sqlitestore: put %s: empty blob", id)
	}
	if err := s.do(&req{id: id, blob: blob}); err != nil {
		return fmt.Errorf("sqlitestore: put %s: %w", id, err)
	}
	return nil
}

// Get implements chunk.Store.
func (s *Store) Get(ctx context.Context, id chunk.ID) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("sqlitestore: get %s: %w", id, err)
	}
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT blob FROM chunks WHERE id = ?`, id[:]).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlitestore: get %s: %w", id, chunk.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get %s: %w", id, s.closedErr(err))
	}
	return b, nil
}

// Has implements chunk.Store.
func (s *Store) Has(ctx context.Context, id chunk.ID) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, fmt.Errorf("sqlitestore: has %s: %w", id, err)
	}
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM chunks WHERE id = ?`, id[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlitestore: has %s: %w", id, s.closedErr(err))
	}
	return true, nil
}

// Delete implements chunk.Store.
func (s *Store) Delete(ctx context.Context, id chunk.ID) error {
	if err := s.check(ctx); err != nil {
		return fmt.Errorf("sqlitestore: delete %s: %w", id, err)
	}
	if err := s.do(&req{del: true, id: id}); err != nil {
		return fmt.Errorf("sqlitestore: delete %s: %w", id, err)
	}
	return nil
}

// List implements chunk.Store, a page of ids at a time (no transaction is
// held while fn runs).
func (s *Store) List(ctx context.Context, fn func(chunk.ID) error) error {
	var after []byte
	for {
		if err := s.check(ctx); err != nil {
			return fmt.Errorf("sqlitestore: list: %w", err)
		}
		page, err := s.page(ctx, after)
		if err != nil {
			return fmt.Errorf("sqlitestore: list: %w", s.closedErr(err))
		}
		for _, id := range page {
			if err := fn(id); err != nil {
				return err
			}
		}
		if len(page) < listPage {
			return nil
		}
		last := page[len(page)-1]
		after = last[:]
	}
}

func (s *Store) page(ctx context.Context, after []byte) ([]chunk.ID, error) {
	if after == nil {
		after = []byte{}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM chunks WHERE id > ? ORDER BY id LIMIT ?`, after, listPage)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []chunk.ID
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if len(b) == len(chunk.ID{}) {
			page = append(page, chunk.ID(b))
		}
	}
	return page, rows.Err()
}

// Usage implements chunk.Store.
func (s *Store) Usage(ctx context.Context) (chunk.Usage, error) {
	if err := s.check(ctx); err != nil {
		return chunk.Usage{}, fmt.Errorf("sqlitestore: usage: %w", err)
	}
	return chunk.Usage{Chunks: s.chunks.Load(), Bytes: s.bytes.Load()}, nil
}

func (s *Store) closedErr(err error) error {
	if s.closed.Load() {
		return errors.Join(chunk.ErrClosed, err)
	}
	return err
}

// Close implements chunk.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.stop)
	s.wg.Wait()
	err := s.db.Close()
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	return err
}
