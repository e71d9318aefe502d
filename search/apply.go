package search

import (
	"context"
	"fmt"
	"path"
	"time"

	index "github.com/blevesearch/bleve_index_api"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// batchDocs is how many documents one index write carries at most (a
// resync writes resyncBatchDocs: fewer, larger segments to merge).
const (
	batchDocs       = 2000
	resyncBatchDocs = 20000
)

// apply indexes a batch of feed events: it works out which dentries they
// concern and rebuilds their documents from the current state (events of
// concurrent changes may come in either order; the state is the truth).
func (x *Index) apply(ctx context.Context, cs []replica.Change) error {
	if len(cs) == 0 {
		return nil
	}
	seq := cs[len(cs)-1].Seq
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	dentries := map[crdt.InodeID]bool{}
	subtrees := map[crdt.InodeID]bool{}
	inodes := map[crdt.InodeID]bool{}
	for _, c := range cs {
		switch c.Kind {
		case replica.ChangeReset:
			return x.resyncLocked(ctx, seq)
		case replica.ChangeCreated:
			dentries[c.Dentry] = true
		case replica.ChangeMoved, replica.ChangeRemoved:
			dentries[c.Dentry] = true
			subtrees[c.Dentry] = true
			inodes[c.Inode] = true
		case replica.ChangeWritten, replica.ChangeAttr, replica.ChangeXattr:
			inodes[c.Inode] = true
		}
	}
	// The documents indexed for an inode (its names, conflict copies) are
	// rebuilt, and deleted unless still live; the inode itself is a
	// dentry too (its first name has its id).
	keep := map[string]bool{}
	for ino := range inodes {
		dentries[ino] = true
		ids, err := x.idsWhere(fInode, ino.String())
		if err != nil {
			return err
		}
		for _, id := range ids {
			keep[id] = false
			if d, ok := dentryOfID(id); ok {
				dentries[d] = true
			}
		}
	}
	mode := extractSmall
	if streaming(x.fs.Changes(), time.Now()) {
		mode = extractSmallUntexted
	}
	b := x.idx.NewBatch()
	var docs []entryDoc
	// Moved or removed directories: every document below them changes
	// path (or goes); the live subtree is walked, the rest deleted.
	for d := range subtrees {
		ids, err := x.idsWhere(fAnc, d.String())
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, ok := keep[id]; !ok {
				keep[id] = false
			}
		}
		if err := x.walkFrom(ctx, d, func(e entryDoc) error {
			docs = append(docs, e)
			return nil
		}); err != nil {
			return err
		}
	}
	_ = x.fs.Meta().View(func(v *crdt.View) error {
		for d := range dentries {
			docs = append(docs, docsOfDentry(v, d)...)
		}
		return nil
	})
	for i := range docs {
		keep[docs[i].id] = true
		if err := x.put(ctx, b, &docs[i], mode); err != nil {
			return err
		}
		if b.Size() >= batchDocs {
			if err := x.commit(b, 0); err != nil {
				return err
			}
			b = x.idx.NewBatch()
		}
	}
	for id, live := range keep {
		if !live {
			b.Delete(id)
			x.stats.deleted.Add(1)
		}
	}
	if err := x.commit(b, seq); err != nil {
		return err
	}
	x.queue.kick()
	return nil
}

// idsWhere returns the ids of the documents whose keyword field is val.
func (x *Index) idsWhere(field, val string) ([]string, error) {
	r, err := x.reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tfr, err := r.TermFieldReader(context.Background(), []byte(val), field, false, false, false)
	if err != nil {
		return nil, fmt.Errorf("search index read: %w", err)
	}
	defer tfr.Close()
	var out []string
	for {
		d, err := tfr.Next(nil)
		if err != nil {
			return nil, fmt.Errorf("search index read: %w", err)
		}
		if d == nil {
			return out, nil
		}
		id, err := r.ExternalID(d.ID)
		if err != nil {
			return nil, fmt.Errorf("search index read: %w", err)
		}
		out = append(out, id)
	}
}

func (x *Index) reader() (index.IndexReader, error) {
	i, err := x.idx.Advanced()
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	r, err := i.Reader()
	if err != nil {
		return nil, fmt.Errorf("search index read: %w", err)
	}
	return r, nil
}

// fingerprints returns every document id with its recorded fingerprint
// (doc values: no stored field is decoded).
func (x *Index) fingerprints() (map[string]string, error) {
	r, err := x.reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	all, err := r.DocIDReaderAll()
	if err != nil {
		return nil, fmt.Errorf("search index read: %w", err)
	}
	defer all.Close()
	dv, err := r.DocValueReader([]string{fFP})
	if err != nil {
		return nil, fmt.Errorf("search index read: %w", err)
	}
	out := map[string]string{}
	for {
		d, err := all.Next()
		if err != nil {
			return nil, fmt.Errorf("search index read: %w", err)
		}
		if d == nil {
			return out, nil
		}
		id, err := r.ExternalID(d)
		if err != nil {
			return nil, fmt.Errorf("search index read: %w", err)
		}
		fp := ""
		if err := dv.VisitDocValues(d, func(_ string, term []byte) { fp = string(term) }); err != nil {
			return nil, fmt.Errorf("search index read: %w", err)
		}
		out[id] = fp
	}
}

// walkFrom visits the documents of the live subtree below directory dir
// (dir itself excluded), one directory per view so that writers are not
// held up by a large walk.
func (x *Index) walkFrom(ctx context.Context, dir crdt.InodeID, fn func(entryDoc) error) error {
	var dirPath string
	var anc []string
	live := false
	_ = x.fs.Meta().View(func(v *crdt.View) error {
		if dir == crdt.RootID {
			dirPath, live = "/", true
			return nil
		}
		if p, ok := v.Place(dir); ok && p.Kind == crdt.KindDir {
			dirPath, live = v.Path(dir)
			anc = ancestors(v, dir)
		}
		return nil
	})
	if !live {
		return nil
	}
	type pending struct {
		id   crdt.InodeID
		path string
		anc  []string
	}
	stack := []pending{{dir, dirPath, anc}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		var docs []entryDoc
		_ = x.fs.Meta().View(func(v *crdt.View) error {
			ents, err := v.ReadDir(d.id)
			if err != nil {
				return nil // gone meanwhile
			}
			for _, e := range ents {
				doc, ok := fromEntry(v, d.path, d.anc, e)
				if !ok {
					continue
				}
				docs = append(docs, doc)
				if e.Kind == crdt.KindDir && e.Ref.Version.IsZero() {
					stack = append(stack, pending{e.Ref.Inode, path.Join(d.path, e.Name), append([]string{e.Ref.Inode.String()}, d.anc...)})
				}
			}
			return nil
		})
		for _, doc := range docs {
			if err := fn(doc); err != nil {
				return err
			}
		}
	}
	return nil
}

// resync brings the index in line with the namespace after events were
// missed: a walk of the whole tree, each entry's fingerprint compared
// with the indexed one; changed entries are re-indexed, indexed
// documents the walk did not meet are deleted. seq is the feed position
// the result reflects (0: keep the current one).
func (x *Index) resync(ctx context.Context, seq uint64) error {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	return x.resyncLocked(ctx, seq)
}

func (x *Index) resyncLocked(ctx context.Context, seq uint64) error {
	start := time.Now()
	x.stats.resyncs.Add(1)
	indexed, err := x.fingerprints()
	if err != nil {
		return err
	}
	b := x.idx.NewBatch()
	err = x.walkFrom(ctx, crdt.RootID, func(e entryDoc) error {
		x.stats.resyncExamined.Add(1)
		fp, had := indexed[e.id]
		delete(indexed, e.id)
		if had && fp != fpPending && fp == e.fingerprint() {
			return nil
		}
		if err := x.put(ctx, b, &e, queueContent); err != nil {
			return err
		}
		if b.Size() >= resyncBatchDocs {
			if err := x.commit(b, 0); err != nil {
				return err
			}
			b = x.idx.NewBatch()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id := range indexed {
		b.Delete(id)
		x.stats.deleted.Add(1)
	}
	if err := x.commit(b, seq); err != nil {
		return err
	}
	x.queue.kick()
	x.stats.lastResyncMs.Store(time.Since(start).Milliseconds())
	x.log.Info("search index resynchronised with the namespace", "examined", x.stats.resyncExamined.Load(),
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}
