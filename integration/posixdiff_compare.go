package integration

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Comparing two runs of a case. Everything but the times must be equal.
// Times are compared by how they are ordered, never by value (the runs
// happen at different moments): within one stat (atime against mtime,
// mtime against ctime, ...) and against the previous stat of the same
// path or descriptor while it names the same inode (did each time move
// forward or stay?). A time before
// 2001 was set explicitly by utimens and must be equal.

var explicitTimeBefore = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// obs is one stat in a case's timeline.
type obs struct {
	key string
	st  *Stat
}

// compareCase returns one line per difference between want (tmpfs) and
// got (clusterf).
func compareCase(c Case, want, got [][]Result) []string {
	var diffs []string
	var tw, tg []obs
	for ph := range c.Phases {
		for i, s := range c.Phases[ph].Steps {
			where := fmt.Sprintf("phase %d step %d %s", ph, i, stepString(s))
			if ph >= len(want) || ph >= len(got) || i >= len(want[ph]) || i >= len(got[ph]) {
				return append(diffs, where+": missing result")
			}
			w, g := want[ph][i], got[ph][i]
			if d := compareResult(w, g); d != "" {
				diffs = append(diffs, fmt.Sprintf("%s: %s\n\ttmpfs:    %s\n\tclusterf: %s", where, d, resultString(w), resultString(g)))
			}
			key := stepKey(s)
			if w.Stat != nil && g.Stat != nil {
				tw, tg = append(tw, obs{key, w.Stat}), append(tg, obs{key, g.Stat})
			}
			for k, p := range s.Watch {
				if k < len(w.Watch) && k < len(g.Watch) && w.Watch[k] != nil && g.Watch[k] != nil {
					tw, tg = append(tw, obs{"lstat " + p, w.Watch[k]}), append(tg, obs{"lstat " + p, g.Watch[k]})
				}
			}
		}
	}
	rw, rg := timeRelations(tw), timeRelations(tg)
	for i := range rw {
		if rw[i] != rg[i] {
			diffs = append(diffs, fmt.Sprintf("times of %s (stat %d of the case): tmpfs %s, clusterf %s", tw[i].key, i, rw[i], rg[i]))
		}
	}
	return diffs
}

func stepKey(s Step) string {
	switch s.Op {
	case "fstat":
		return "fd " + strconv.Itoa(s.FD)
	case "stat", "lstat":
		return s.Op + " " + s.Path
	}
	return ""
}

// compareResult compares everything but the times.
func compareResult(w, g Result) string {
	switch {
	case w.Errno != g.Errno:
		return "errno"
	case w.Ret != g.Ret:
		return "return value"
	case w.Data != g.Data:
		return "data"
	case !reflect.DeepEqual(w.Names, g.Names):
		return "names"
	case !sameStat(w.Stat, g.Stat):
		return "stat"
	case len(w.Watch) != len(g.Watch):
		return "watched stats"
	}
	for i := range w.Watch {
		if !sameStat(w.Watch[i], g.Watch[i]) {
			return "watched stat " + strconv.Itoa(i)
		}
	}
	return ""
}

func sameStat(a, b *Stat) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Atime, x.Mtime, x.Ctime, x.Ino = 0, 0, 0, 0
	y.Atime, y.Mtime, y.Ctime, y.Ino = 0, 0, 0, 0
	return x == y
}

// timeRelations describes each observation's times by their order.
func timeRelations(tl []obs) []string {
	out := make([]string, len(tl))
	last := map[string]*Stat{}
	for i, o := range tl {
		s := o.st
		r := fmt.Sprintf("a%sm m%sc a%sc", cmpSign(s.Atime, s.Mtime), cmpSign(s.Mtime, s.Ctime), cmpSign(s.Atime, s.Ctime))
		// Times of two inodes are not compared: tmpfs gives inodes made in
		// one tick of its coarse clock the same times.
		if p, ok := last[o.key]; ok && o.key != "" && p.Ino != s.Ino {
			r += " another inode"
		} else if ok && o.key != "" {
			r += fmt.Sprintf(" since last: a%s m%s c%s", cmpSign(s.Atime, p.Atime), cmpSign(s.Mtime, p.Mtime), cmpSign(s.Ctime, p.Ctime))
		}
		for _, t := range []struct {
			name string
			v    int64
		}{{"atime", s.Atime}, {"mtime", s.Mtime}} {
			if t.v < explicitTimeBefore {
				r += fmt.Sprintf(" %s=%d", t.name, t.v)
			}
		}
		out[i] = r
		if o.key != "" {
			last[o.key] = s
		}
	}
	return out
}

func cmpSign(a, b int64) string {
	switch {
	case a < b:
		return "<"
	case a > b:
		return ">"
	}
	return "="
}

func stepString(s Step) string {
	if len(s.Data) > 64 {
		s.Data = s.Data[:32] + "..." + strconv.Itoa(len(s.Data))
	}
	if len(s.Path) > 80 {
		s.Path = s.Path[:40] + "..." + strconv.Itoa(len(s.Path))
	}
	if len(s.Path2) > 80 {
		s.Path2 = s.Path2[:40] + "..." + strconv.Itoa(len(s.Path2))
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func resultString(r Result) string {
	if len(r.Data) > 64 {
		r.Data = r.Data[:32] + "..." + strconv.Itoa(len(r.Data))
	}
	b, _ := json.Marshal(r)
	return string(b)
}
