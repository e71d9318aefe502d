package search

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
	"golang.org/x/text/unicode/norm"
)

// The analyzers of the index. Names, paths and metadata strings go
// through "cf_words": NFC, lower case, split at every non-letter/digit and
// at camelCase and letter/digit boundaries ("vacationPhotos2024.zip" →
// vacation, photos, 2024, zip). "cf_suffixes" indexes the suffixes of a
// name's words (substrings are prefixes of suffixes). Document
// text uses "cf_text" (NFC, lower case, split at non-letters/digits; no
// camelCase split, so prose keeps its words).
const (
	analyzerWords    = "cf_words"
	analyzerSuffixes = "cf_suffixes"
	analyzerPrefixes = "cf_prefixes"
	analyzerText     = "cf_text"
)

func init() {
	for name, a := range map[string]analysis.Analyzer{
		analyzerWords:    analyzerFunc(func(b []byte) analysis.TokenStream { return wordTokens(string(b), true) }),
		analyzerText:     analyzerFunc(func(b []byte) analysis.TokenStream { return wordTokens(string(b), false) }),
		analyzerSuffixes: analyzerFunc(func(b []byte) analysis.TokenStream { return suffixTokens(string(b)) }),
		analyzerPrefixes: analyzerFunc(func(b []byte) analysis.TokenStream { return prefixTokens(string(b)) }),
	} {
		a := a
		if err := registry.RegisterAnalyzer(name, func(map[string]interface{}, *registry.Cache) (analysis.Analyzer, error) {
			return a, nil
		}); err != nil {
			panic(err)
		}
	}
}

type analyzerFunc func([]byte) analysis.TokenStream

func (f analyzerFunc) Analyze(b []byte) analysis.TokenStream { return f(b) }

// normalize is the form every indexed and queried string takes: NFC,
// lower case.
func normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ToLower(norm.NFC.String(s))
}

// maxTokenLen drops longer tokens (hashes, base64 blobs): they bloat the
// term dictionary and nobody types them.
const maxTokenLen = 64

// words splits s into its words as the "cf_words" (camel true) or
// "cf_text" analyzer does, normalised. Offsets are into the NFC form of s.
func words(s string, camel bool) []string {
	ts := wordTokens(s, camel)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t.Term)
	}
	return out
}

func wordTokens(s string, camel bool) analysis.TokenStream {
	s = norm.NFC.String(s)
	var out analysis.TokenStream
	start := -1
	var prev rune
	emit := func(end int) {
		if start >= 0 && end > start && end-start <= maxTokenLen {
			out = append(out, &analysis.Token{Start: start, End: end, Term: []byte(strings.ToLower(s[start:end])),
				Position: len(out) + 1, Type: analysis.AlphaNumeric})
		}
		start = -1
	}
	for i, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
			emit(i)
			prev = r
			continue
		}
		if start >= 0 && camel && boundary(prev, r, s[i:]) {
			emit(i)
		}
		if start < 0 {
			start = i
		}
		prev = r
	}
	emit(len(s))
	return out
}

// boundary reports a word boundary inside a run of letters and digits
// before r: lower→Upper ("vacationPhotos"), letter↔digit ("IMG2024"), and
// the last capital of an acronym before a lower-case letter ("HTTPServer":
// HTTP, Server).
func boundary(prev, r rune, rest string) bool {
	switch {
	case unicode.IsLower(prev) && unicode.IsUpper(r):
		return true
	case unicode.IsDigit(prev) != unicode.IsDigit(r):
		return true
	case unicode.IsUpper(prev) && unicode.IsUpper(r):
		_, n := utf8.DecodeRuneInString(rest)
		next, _ := utf8.DecodeRuneInString(rest[n:])
		return unicode.IsLower(next)
	}
	return false
}

// maxSuffixToken bounds the part of a word whose suffixes are indexed.
const maxSuffixToken = 32

// suffixTokens are the proper suffixes (three characters or more, the
// word itself left out: the name field has it) of every word of a name
// (as cf_words splits it), each once: a substring inside a word is a
// prefix of one of them ("cation" of "vacation"), so substring search is
// a prefix lookup in the term dictionary, without positions. Words, not
// whole separator-delimited runs: the dictionary stays a vocabulary of
// words, so a prefix expands to few terms.
func suffixTokens(s string) analysis.TokenStream {
	seen := map[string]bool{}
	var out analysis.TokenStream
	for _, w := range words(s, true) {
		rs := []rune(w)
		if len(rs) > maxSuffixToken {
			rs = rs[:maxSuffixToken]
		}
		for i := 1; i+3 <= len(rs); i++ {
			t := string(rs[i:])
			if !seen[t] {
				seen[t] = true
				out = append(out, &analysis.Token{Start: 0, End: len(s), Term: []byte(t), Position: len(out) + 1})
			}
		}
	}
	return out
}

// prefixTokens are the proper prefixes of up to maxPrefixGram characters
// of every word of a name, each once ("vacation": v, va, vac, vaca): a
// short prefix is one term to look up instead of an expansion over every
// name word that starts with it.
func prefixTokens(s string) analysis.TokenStream {
	seen := map[string]bool{}
	var out analysis.TokenStream
	for _, w := range words(s, true) {
		rs := []rune(w)
		for n := 1; n < len(rs) && n <= maxPrefixGram; n++ {
			t := string(rs[:n])
			if !seen[t] {
				seen[t] = true
				out = append(out, &analysis.Token{Start: 0, End: len(s), Term: []byte(t), Position: len(out) + 1})
			}
		}
	}
	return out
}
