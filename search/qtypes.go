package search

import (
	"context"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
)

// Two query types of our own, for what bleve's do at a cost that grows
// with the index (docs/search.md, "Query cost"):
//
//   - sparseAny is a disjunction that leaves out the clauses that match
//     nothing in this snapshot before it is searched: a plain word is
//     looked up in a dozen fields and usually occurs in two or three, and
//     every clause kept costs on each document the disjunction steps over
//     (above ten clauses bleve also switches to a heap).
//   - namePrefix matches the name words that start with a word and are
//     longer than it. Up to maxPrefixGram characters that is one term of
//     the prefix field (no expansion: "1", "ab" or "2024" would otherwise
//     expand to thousands of terms, each opened in every segment); longer
//     prefixes expand in the name dictionary, the word itself left out
//     (the whole word is its own clause, ranked higher).

// sparseAny matches what any of its clauses match.
type sparseAny struct{ qs []query.Query }

func (q sparseAny) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, o search.SearcherOptions) (search.Searcher, error) {
	var keep []search.Searcher
	var empty search.Searcher
	for _, c := range q.qs {
		s, err := c.Searcher(ctx, r, m, o)
		if err != nil {
			for _, k := range keep {
				_ = k.Close()
			}
			return nil, err
		}
		if s.Count() > 0 {
			keep = append(keep, s)
		} else if empty == nil {
			empty = s
		} else {
			_ = s.Close()
		}
	}
	switch len(keep) {
	case 0:
		// An empty searcher, not MatchNone: a boolean query drops a must
		// clause that is MatchNone (its should clauses would then match).
		if empty == nil {
			return searcher.NewMatchNoneSearcher(r)
		}
		return empty, nil
	case 1:
		if empty != nil {
			_ = empty.Close()
		}
		return keep[0], nil
	}
	if empty != nil {
		_ = empty.Close()
	}
	return searcher.NewDisjunctionSearcher(ctx, r, keep, 0, o)
}

// anyOf is the disjunction of the non-nil queries.
func anyOf(in ...query.Query) query.Query {
	qs := in[:0:0]
	for _, q := range in {
		if q != nil {
			qs = append(qs, q)
		}
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return sparseAny{qs}
}

// maxPrefixGram is the longest prefix the prefix field holds.
const maxPrefixGram = 4

// namePrefix matches the name words longer than w that start with it.
type namePrefix struct {
	w     string
	boost float64
}

func (q namePrefix) Searcher(ctx context.Context, r index.IndexReader, m mapping.IndexMapping, o search.SearcherOptions) (search.Searcher, error) {
	if utf8.RuneCountInString(q.w) <= maxPrefixGram {
		t := bleve.NewTermQuery(q.w)
		t.SetField(fPrefix)
		t.SetBoost(q.boost)
		return t.Searcher(ctx, r, m, o)
	}
	d, err := r.FieldDictPrefix(fName, []byte(q.w))
	if err != nil {
		return nil, err
	}
	var terms []string
	for {
		e, err := d.Next()
		if err != nil {
			_ = d.Close()
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Term != q.w {
			terms = append(terms, e.Term)
		}
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	if len(terms) == 0 {
		return searcher.NewMatchNoneSearcher(r)
	}
	return searcher.NewMultiTermSearcher(ctx, r, terms, fName, q.boost, o, true)
}
