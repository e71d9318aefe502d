package search

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
	"golang.org/x/text/unicode/norm"
)

// The query language (docs/search.md):
//
//	vacation beach        every word must match (name, path, text, metadata), ranked
//	"summer vacation"     exact phrase
//	foto*                 prefix
//	a OR b                either
//	-draft                must not match
//	name: path: ext: type: camera: lens: artist: album: title: genre:
//	tag: xattr: text:     field filters (value quoted for a phrase, * for a prefix)
//	size:>10MB  modified:>2026-01-01  taken:2024  duration:>3m
//	under:/photos  gps:yes
//
// Words shorter than three characters match names by prefix only; words
// of five or more characters also match with one typo (eight or more:
// two). Matching is case-, accent-form- and separator-blind.

// QueryError is a query that cannot be run; its message says why (HTTP
// 400).
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return e.Msg }

func badQuery(format string, args ...any) error {
	return &QueryError{Msg: fmt.Sprintf(format, args...)}
}

// IsQueryError reports whether err is the user's query's fault.
func IsQueryError(err error) bool {
	var q *QueryError
	return errors.As(err, &q)
}

// Query bounds.
const (
	MaxQueryBytes = 1024
	maxClauses    = 32
	maxWordBytes  = 128
)

// clause is one element of a query.
type clause struct {
	neg    bool
	field  string // "" for a plain term
	value  string
	phrase bool // value was quoted
	or     bool // the word OR
}

// lex splits a query into clauses.
func lex(q string) ([]clause, error) {
	if len(q) > MaxQueryBytes {
		return nil, badQuery("query too long: %d bytes, at most %d", len(q), MaxQueryBytes)
	}
	if !utf8.ValidString(q) {
		return nil, badQuery("query is not valid UTF-8")
	}
	var out []clause
	i := 0
	for i < len(q) {
		for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r') {
			i++
		}
		if i >= len(q) {
			break
		}
		var c clause
		if q[i] == '-' && i+1 < len(q) && q[i+1] != ' ' {
			c.neg = true
			i++
		}
		// field name?
		j := i
		for j < len(q) && (q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z') {
			j++
		}
		if j > i && j < len(q) && q[j] == ':' && j+1 < len(q) && q[j+1] != ' ' {
			c.field = strings.ToLower(q[i:j])
			i = j + 1
		}
		if i < len(q) && q[i] == '"' {
			end := strings.IndexByte(q[i+1:], '"')
			if end < 0 {
				return nil, badQuery("unterminated quote in query")
			}
			c.value, c.phrase = q[i+1:i+1+end], true
			i += end + 2
		} else {
			j := i
			for j < len(q) && q[j] != ' ' && q[j] != '\t' && q[j] != '\n' && q[j] != '\r' {
				j++
			}
			c.value = q[i:j]
			i = j
		}
		if c.field == "" && !c.neg && !c.phrase && c.value == "OR" {
			c = clause{or: true}
		}
		if len(c.value) > maxWordBytes && !c.phrase {
			return nil, badQuery("query word too long: %d bytes, at most %d", len(c.value), maxWordBytes)
		}
		out = append(out, c)
		if len(out) > maxClauses {
			return nil, badQuery("query has more than %d parts", maxClauses)
		}
	}
	return out, nil
}

// compiler turns query strings into bleve queries. resolve maps an
// under: path to its directory id (ok false: no such directory); exists
// reports whether a term is in a field's dictionary (typo tolerance is
// for words that match nothing as typed).
type compiler struct {
	resolve func(string) (string, bool, error)
	exists  func(field, term string) bool
	// should are scoring clauses (a plain word's whole-word match in a
	// name), marks the words to mark in names; negated tells plainWord
	// that it is compiling a -word.
	should  []query.Query
	marks   []string
	negated bool
}

func (cp *compiler) compile(q string) (query.Query, error) {
	cp.should, cp.marks = nil, nil
	cs, err := lex(q)
	if err != nil {
		return nil, err
	}
	var must, mustNot []query.Query
	var orGroup []query.Query
	pendingOr := false
	for _, c := range cs {
		if c.or {
			if len(must) == 0 || pendingOr {
				return nil, badQuery("OR needs a term on each side")
			}
			pendingOr = true
			continue
		}
		cp.negated = c.neg
		cq, err := cp.clauseQuery(c)
		cp.negated = false
		if err != nil {
			return nil, err
		}
		if c.neg {
			if pendingOr {
				return nil, badQuery("OR cannot join a negated term")
			}
			mustNot = append(mustNot, cq)
			continue
		}
		if pendingOr {
			last := must[len(must)-1]
			if len(orGroup) == 0 {
				orGroup = []query.Query{last}
			}
			orGroup = append(orGroup, cq)
			must[len(must)-1] = bleve.NewDisjunctionQuery(orGroup...)
			pendingOr = false
			continue
		}
		orGroup = nil
		must = append(must, cq)
	}
	if pendingOr {
		return nil, badQuery("OR needs a term on each side")
	}
	if len(must) == 0 && len(mustNot) == 0 {
		return nil, badQuery("empty query")
	}
	b := bleve.NewBooleanQuery()
	if len(must) == 0 {
		b.AddMust(bleve.NewMatchAllQuery())
	} else {
		b.AddMust(must...)
	}
	if len(mustNot) > 0 {
		b.AddMustNot(mustNot...)
	}
	if len(cp.should) > 0 && len(must) > 0 {
		b.AddShould(cp.should...)
	}
	return b, nil
}

func boosted(q interface{ SetBoost(float64) }, b float64) {
	q.SetBoost(b)
}

func term(field, v string, boost float64) query.Query {
	q := bleve.NewTermQuery(v)
	q.SetField(field)
	boosted(q, boost)
	return q
}

func prefix(field, v string, boost float64) query.Query {
	q := bleve.NewPrefixQuery(v)
	q.SetField(field)
	boosted(q, boost)
	return q
}

func phrase(field string, terms []string, boost float64) query.Query {
	q := bleve.NewPhraseQuery(terms, field)
	boosted(q, boost)
	return q
}

// fuzzy matches v with one typo (two from eight letters) when v as typed
// is not in the field at all; words with digits (dates, numbers, ids) are
// never fuzzed. nil: no fuzzy query.
func (cp *compiler) fuzzy(field, v string, boost float64) query.Query {
	if strings.ContainsAny(v, "0123456789") || (cp.exists != nil && cp.exists(field, v)) {
		return nil
	}
	q := bleve.NewFuzzyQuery(v)
	q.SetField(field)
	q.SetFuzziness(1)
	if utf8.RuneCountInString(v) >= 8 {
		q.SetFuzziness(2)
	}
	boosted(q, boost)
	return q
}

func allOf(qs []query.Query) query.Query {
	if len(qs) == 1 {
		return qs[0]
	}
	return bleve.NewConjunctionQuery(qs...)
}

// metaFields are the text fields a plain word is also looked up in.
var metaFields = []string{fCamera, fLens, fArtist, fAlbum, fTitle, fGenre, fTag, fXattr}

// nameWord is one word against a name: exact word, a longer word it
// begins, a word it is inside of (word suffixes) and, for long words, one
// or two typos.
func (cp *compiler) nameWord(w string, isPrefix bool) []query.Query {
	n := utf8.RuneCountInString(w)
	qs := []query.Query{term(fName, w, 5), namePrefix{w, 3}}
	if n >= 3 {
		qs = append(qs, prefix(fSuffix, w, 1.5)) // inside a word
	}
	if !isPrefix && n >= 5 {
		qs = append(qs, cp.fuzzy(fName, w, 0.5))
	}
	if !cp.negated {
		cp.marks = append(cp.marks, w)
	}
	return qs
}

// plainWord is a word of a plain term: it must match somewhere. The
// whole word in a name is matched through the path (which ends with the
// name, split the same way) and ranked by a should clause on the name,
// scored only on documents that match the whole query: each document a
// word matches is then found by one or two clauses, not four.
func (cp *compiler) plainWord(w string, isPrefix bool) query.Query {
	n := utf8.RuneCountInString(w)
	qs := []query.Query{namePrefix{w, 3}}
	if n >= 3 {
		qs = append(qs, prefix(fSuffix, w, 1.5))
	}
	if !isPrefix && n >= 5 {
		qs = append(qs, cp.fuzzy(fName, w, 0.5))
	}
	add := func(f string, b float64) {
		if isPrefix {
			qs = append(qs, prefix(f, w, b*0.7))
		} else {
			qs = append(qs, term(f, w, b))
		}
	}
	add(fPath, 1)
	add(fText, 1)
	for _, f := range metaFields {
		add(f, 2)
	}
	if !isPrefix && n >= 5 {
		qs = append(qs, cp.fuzzy(fText, w, 0.3))
	}
	if !cp.negated {
		cp.should = append(cp.should, term(fName, w, 4))
		cp.marks = append(cp.marks, w)
	}
	return anyOf(qs...)
}

// splitValue splits a term into its words and reports a trailing *
// (prefix). camel splits each word as the cf_words analyzer does.
func splitValue(v string, camel bool) ([]string, bool, error) {
	isPrefix := strings.HasSuffix(v, "*")
	v = strings.TrimRight(v, "*")
	if strings.ContainsAny(v, "*?") {
		return nil, false, badQuery("%q: * is only allowed at the end of a word", v)
	}
	return words(v, camel), isPrefix, nil
}

// wordsQuery: every word must match, the last one as a prefix if asked.
func wordsQuery(ws []string, isPrefix bool, one func(w string, prefix bool) query.Query) query.Query {
	qs := make([]query.Query, len(ws))
	for i, w := range ws {
		qs[i] = one(w, isPrefix && i == len(ws)-1)
	}
	return allOf(qs)
}

// plainWords: each word of a plain term must match; a word that the
// name analyzer splits further ("R5", "iPhone") matches as typed (text,
// substrings of names) or as its parts (names, metadata).
func (cp *compiler) plainWords(v string, isPrefix bool) query.Query {
	toks := wordTokens(v, false)
	nv := norm.NFC.String(v)
	qs := make([]query.Query, len(toks))
	for i, tk := range toks {
		p := isPrefix && i == len(toks)-1
		w := string(tk.Term)
		parts := words(nv[tk.Start:tk.End], true)
		if len(parts) <= 1 {
			qs[i] = cp.plainWord(w, p)
			continue
		}
		qs[i] = anyOf(cp.plainWord(w, p), wordsQuery(parts, p, cp.plainWord))
	}
	return allOf(qs)
}

func (cp *compiler) clauseQuery(c clause) (query.Query, error) {
	switch c.field {
	case "":
		return cp.textClause(c, nil, []string{fName, fTitle, fAlbum, fArtist})
	case "name":
		return cp.textClause(c, func(w string, p bool) query.Query { return anyOf(cp.nameWord(w, p)...) }, []string{fName})
	case "path":
		c.phrase = false // path has no positions: its words must all match
		return cp.textClause(c, cp.fieldWord(fPath), nil)
	case "text", "content":
		return cp.textClause(c, cp.fieldWord(fText), nil)
	case "camera", "lens", "artist", "album", "title", "genre", "tag", "xattr":
		return cp.textClause(c, cp.fieldWord(c.field), []string{c.field})
	case "tags":
		return cp.textClause(c, cp.fieldWord(fTag), []string{fTag})
	case "ext":
		return keywordList(c.value, fExt, func(s string) string { return strings.TrimPrefix(normalize(s), ".") })
	case "type", "kind":
		return keywordList(c.value, fType, typeAlias)
	case "size":
		return sizeQuery(c.value)
	case "modified", "mtime", "date":
		return dateQuery(fMtime, c.value)
	case "taken":
		return dateQuery(fTaken, c.value)
	case "duration":
		return durationQuery(c.value)
	case "gps":
		switch strings.ToLower(c.value) {
		case "yes", "true", "1":
			return bleveBool(true), nil
		case "no", "false", "0":
			return bleveBool(false), nil
		}
		return nil, badQuery("gps: takes yes or no, not %q", c.value)
	case "under", "in", "folder", "dir":
		id, ok, err := cp.resolve(c.value)
		if err != nil {
			return nil, err
		}
		if !ok {
			return bleve.NewMatchNoneQuery(), nil
		}
		if id == "" {
			return bleve.NewMatchAllQuery(), nil
		}
		return term(fAnc, id, 0), nil
	}
	return nil, badQuery("unknown field %q (fields: name path ext type camera lens artist album title genre tag xattr text size modified taken duration under gps)", c.field+":")
}

func bleveBool(v bool) query.Query {
	q := bleve.NewBoolFieldQuery(v)
	q.SetField(fGPS)
	return q
}

func (cp *compiler) fieldWord(field string) func(string, bool) query.Query {
	return func(w string, p bool) query.Query {
		if p {
			return prefix(field, w, 1)
		}
		if utf8.RuneCountInString(w) >= 5 {
			return anyOf(term(field, w, 2), prefix(field, w, 1), cp.fuzzy(field, w, 0.5))
		}
		return anyOf(term(field, w, 2), prefix(field, w, 1))
	}
}

// textClause is a word, words or a quoted phrase against text fields:
// one(word) for a field filter (nil: a plain term), wordFields the
// cf_words fields a phrase is looked for in (the text field always is
// for plain terms and text:).
func (cp *compiler) textClause(c clause, one func(string, bool) query.Query, wordFields []string) (query.Query, error) {
	camel := c.field != "" && c.field != "text" && c.field != "content"
	ws, isPrefix, err := splitValue(c.value, camel)
	if c.phrase {
		ws, isPrefix, err = words(c.value, camel), false, nil
	}
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		if c.field == "" && strings.Trim(c.value, "*") == "" && !c.phrase {
			return bleve.NewMatchAllQuery(), nil // "*": everything
		}
		if strings.IndexFunc(c.value, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			return nil, badQuery("%.40q…: words longer than %d bytes are not indexed; search for a part of it", c.value, maxTokenLen)
		}
		return nil, badQuery("%q has no letters or digits to search for", c.value)
	}
	if !c.phrase || len(ws) == 1 {
		if one == nil {
			return cp.plainWords(strings.TrimRight(c.value, "*"), isPrefix), nil
		}
		return wordsQuery(ws, isPrefix, one), nil
	}
	if len(ws) > 16 {
		return nil, badQuery("phrase of %d words: at most 16", len(ws))
	}
	var qs []query.Query
	if camelWs := words(c.value, true); len(wordFields) > 0 {
		for _, f := range wordFields {
			qs = append(qs, phrase(f, camelWs, 3))
		}
	}
	if c.field == "" || c.field == "text" || c.field == "content" {
		qs = append(qs, phrase(fText, words(c.value, false), 3))
	}
	return anyOf(qs...), nil
}

var typeAliases = map[string]string{
	"photo": "image", "photos": "image", "picture": "image", "pictures": "image", "images": "image", "img": "image",
	"music": "audio", "song": "audio", "songs": "audio", "sound": "audio",
	"movie": "video", "movies": "video", "videos": "video", "film": "video",
	"doc": "document", "docs": "document", "documents": "document",
	"folder": "directory", "folders": "directory", "dir": "directory", "dirs": "directory",
	"files": "file", "link": "symlink",
}

func typeAlias(s string) string {
	s = normalize(s)
	if a, ok := typeAliases[s]; ok {
		return a
	}
	return s
}

// keywordList is field:v or field:a,b (any of).
func keywordList(v, field string, norm func(string) string) (query.Query, error) {
	var qs []query.Query
	for _, p := range strings.Split(v, ",") {
		if p = norm(strings.TrimSpace(p)); p != "" {
			qs = append(qs, term(field, p, 0.1))
		}
	}
	if len(qs) == 0 {
		return nil, badQuery("%s: needs a value", field)
	}
	return anyOf(qs...), nil
}
