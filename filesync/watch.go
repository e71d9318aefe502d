package filesync

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/clusterf/clusterf/crdt"
	"github.com/clusterf/clusterf/replica"
)

// Where changes come from: fsnotify for the local folder (every directory
// watched; an overflow or a watch limit falls back to the rescan), and
// the core's change feed for the cluster folder.

// startWatcher starts watching the local folder (directories are added as
// the walk lists them).
func (e *engine) startWatcher(ctx context.Context, wg *sync.WaitGroup) error {
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return err
	}
	e.watcher = w
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				e.onEvent(ev)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					e.log.Info("sync: too many local events at once; rescanning")
				} else {
					e.log.Warn("sync: watcher error; rescanning", "err", err)
				}
				e.mark("", true)
			}
		}
	}()
	return nil
}

func (e *engine) onEvent(ev fsnotify.Event) {
	e.lastEvent.Store(time.Now().UnixNano())
	rel, ok := e.localRel(ev.Name)
	if ok && rel == IgnoreFile {
		e.mark("", false) // the round reads it again (ignoreChanged) and scans in full
		return
	}
	if !ok || internal(rel) {
		return
	}
	if ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) {
		e.watcher.Remove(ev.Name) // a moved directory is watched again at its new path
	}
	e.mark(rel, false)
}

func (e *engine) localRel(p string) (string, bool) {
	if p == e.cfg.Local {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, e.cfg.Local+string(filepath.Separator))
	return filepath.ToSlash(rest), ok
}

// watchDir watches local directory rel (a watch limit is reported once).
func (e *engine) watchDir(rel string) {
	if e.watcher == nil {
		return
	}
	if err := e.watcher.Add(e.loc.full(rel)); err != nil && !e.watchErr {
		e.watchErr = true
		e.warn("cannot watch every local folder (" + err.Error() + "; raise fs.inotify.max_user_watches): some changes are found only by the rescan every " + e.cfg.Rescan.String())
	}
}

// feedStart returns the feed position to follow from and whether a scan
// is needed: the position persisted by this node run, else (a new run of
// the node, or events gone) the newest event, with a scan.
func (e *engine) feedStart() (uint64, bool) {
	fd := e.fs.Changes()
	last := fd.Last()
	v := e.st.getMeta("feed")
	if len(v) < 8 || string(v[8:]) != e.runID {
		return last, true
	}
	after := binary.BigEndian.Uint64(v[:8])
	if _, missed := fd.Since(after, 1); missed {
		return last, true
	}
	return after, false
}

// feedDone persists that feed events up to seq are handled.
func (e *engine) feedDone(seq uint64) {
	if !e.cfg.Mode.pull() {
		return
	}
	e.st.setMeta("feed", append(binary.BigEndian.AppendUint64(nil, seq), e.runID...))
}

// followFeed marks the paths the cluster's change events name.
func (e *engine) followFeed(ctx context.Context, after uint64) {
	err := e.fs.Changes().Follow(ctx, after, func(cs []replica.Change, missed bool) error {
		if missed {
			e.log.Info("sync: cluster change events were missed; rescanning")
			e.mark("", true)
		}
		e.markChanges(cs)
		if len(cs) > 0 {
			e.lastEvent.Store(time.Now().UnixNano())
			e.markSeq.Store(cs[len(cs)-1].Seq)
		}
		return nil
	})
	if ctx.Err() == nil {
		e.log.Error("sync: following cluster changes stopped", "err", err)
	}
}

// markChanges turns events into dirty paths: where a name is and was,
// and (through the base and the tree) the paths of written inodes.
func (e *engine) markChanges(cs []replica.Change) {
	var ids []crdt.InodeID
	type place struct {
		dir  crdt.InodeID
		name string
	}
	var places []place
	for _, c := range cs {
		switch c.Kind {
		case replica.ChangeCreated, replica.ChangeMoved:
			ids = append(ids, c.Dentry)
			places = append(places, place{c.Parent, c.Name})
			if c.Kind == replica.ChangeMoved {
				places = append(places, place{c.OldParent, c.OldName})
			}
		case replica.ChangeRemoved:
			places = append(places, place{c.OldParent, c.OldName})
		case replica.ChangeWritten, replica.ChangeAttr, replica.ChangeXattr:
			e.markInode(c.Inode)
		case replica.ChangeReset:
			e.mark("", true)
		}
	}
	for _, rel := range e.cl.paths(ids) {
		e.mark(rel, false)
	}
	var dirs []crdt.InodeID
	for _, p := range places {
		dirs = append(dirs, p.dir)
	}
	rels := e.cl.pathsAligned(dirs)
	for i, p := range places {
		if rels[i].ok && p.name != "" && !strings.HasPrefix(p.name, replica.UploadPrefix) {
			e.mark(joinRel(rels[i].rel, p.name), false)
		}
	}
}
