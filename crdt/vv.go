package crdt

import "sort"

// VersionVector maps each origin to the highest sequence number seen from it
// (all lower sequence numbers are seen too).
type VersionVector map[NodeID]uint64

// Ordering is the result of comparing version vectors.
type Ordering int

const (
	Equal Ordering = iota
	Greater
	Lesser
	Concurrent
)

func (o Ordering) String() string {
	switch o {
	case Equal:
		return "equal"
	case Greater:
		return "greater"
	case Lesser:
		return "lesser"
	case Concurrent:
		return "concurrent"
	}
	return "invalid"
}

// Compare reports how v relates to w: Greater if v has seen everything w has
// and more, Lesser for the reverse, Concurrent if each has seen something the
// other has not.
func (v VersionVector) Compare(w VersionVector) Ordering {
	gt, lt := false, false
	for n, s := range v {
		if s > w[n] {
			gt = true
		} else if s < w[n] {
			lt = true
		}
	}
	for n, s := range w {
		if _, ok := v[n]; !ok && s > 0 {
			lt = true
		}
	}
	switch {
	case gt && lt:
		return Concurrent
	case gt:
		return Greater
	case lt:
		return Lesser
	}
	return Equal
}

// Clone returns a copy of v (nil for an empty v).
func (v VersionVector) Clone() VersionVector {
	if len(v) == 0 {
		return nil
	}
	c := make(VersionVector, len(v))
	for n, s := range v {
		c[n] = s
	}
	return c
}

// Merge sets v to the entry-wise maximum of v and w. v must be non-nil if w
// has entries v lacks.
func (v VersionVector) Merge(w VersionVector) {
	for n, s := range w {
		if s > v[n] {
			v[n] = s
		}
	}
}

// Covers reports whether id.Seq <= v[id.Node].
func (v VersionVector) Covers(id OpID) bool { return id.Seq <= v[id.Node] }

// Nodes returns the origins of v, sorted.
func (v VersionVector) Nodes() []NodeID {
	ns := make([]NodeID, 0, len(v))
	for n := range v {
		ns = append(ns, n)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i] < ns[j] })
	return ns
}

// Min returns the entry-wise minimum of vectors (entries missing from any
// vector are 0 and omitted): what every holder has seen.
func Min(vs ...VersionVector) VersionVector {
	if len(vs) == 0 {
		return nil
	}
	m := VersionVector{}
	for n, s := range vs[0] {
		for _, w := range vs[1:] {
			if w[n] < s {
				s = w[n]
			}
		}
		if s > 0 {
			m[n] = s
		}
	}
	return m
}

// AfterOps returns a copy of v advanced past ops (per origin, the highest
// sequence number among ops): the vector of a peer that had v and then
// received ops.
func AfterOps(v VersionVector, ops []Op) VersionVector {
	w := v.Clone()
	if w == nil {
		w = VersionVector{}
	}
	for i := range ops {
		if id := ops[i].ID; id.Seq > w[id.Node] {
			w[id.Node] = id.Seq
		}
	}
	return w
}
