package deps

import (
	"go/token"
	"regexp"
	"strings"
)

// This file finds the programs a shell script runs: the words in command
// position (after ; | & && || ( newline, then/do/else/..., exec, command,
// env, sudo, time), outside quotes, heredocs and comments, in $( ) and
// backquotes too. Words with an expansion ($GO, "$BIN") are the script's
// own business and not reported. The script's functions and the shell's
// builtins are not programs.

type shTok struct {
	s    string
	op   bool
	dyn  bool // has an expansion or quotes around an expansion
	line int
}

// shSub is a command substitution found inside a word: scanned on its own.
type shSub struct {
	src  string
	line int
}

// shLex splits a script into words and operators.
func shLex(src string, line0 int) (toks []shTok, subs []shSub) {
	line := line0
	var word strings.Builder
	inWord, dyn := false, false
	var heredocs []string
	flush := func() {
		if inWord {
			toks = append(toks, shTok{s: word.String(), dyn: dyn, line: line})
		}
		word.Reset()
		inWord, dyn = false, false
	}
	// matching returns the index just past the closer of an opener at i.
	matching := func(i int, open, close byte) int {
		depth := 0
		for j := i; j < len(src); j++ {
			switch src[j] {
			case '\\':
				j++
			case '\'':
				if k := strings.IndexByte(src[j+1:], '\''); k >= 0 {
					j += k + 1
				}
			case open:
				depth++
			case close:
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(src)
	}
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case ch == '\\' && i+1 < len(src):
			if src[i+1] == '\n' {
				line++
			} else {
				word.WriteByte(src[i+1])
				inWord = true
			}
			i++
		case ch == '#' && !inWord:
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case ch == '\'':
			j := strings.IndexByte(src[i+1:], '\'')
			if j < 0 {
				j = len(src) - i - 1
			}
			lit := src[i+1 : i+1+j]
			line += strings.Count(lit, "\n")
			word.WriteString(lit)
			inWord = true
			i += j + 1
		case ch == '"':
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				switch {
				case src[j] == '\\':
					j++
				case src[j] == '$' && j+1 < len(src) && src[j+1] == '(':
					end := matching(j+1, '(', ')')
					subs = append(subs, shSub{src: src[j+2 : end-1], line: line + strings.Count(src[i:j], "\n")})
					dyn = true
					j = end - 1
				case src[j] == '$' || src[j] == '`':
					dyn = true
				}
			}
			line += strings.Count(src[i:min(j, len(src))], "\n")
			word.WriteString(src[i+1 : min(j, len(src))])
			inWord = true
			i = j
		case ch == '$' && i+1 < len(src) && src[i+1] == '(':
			end := matching(i+1, '(', ')')
			if !strings.HasPrefix(src[i:], "$((") {
				subs = append(subs, shSub{src: src[i+2 : end-1], line: line})
			}
			line += strings.Count(src[i:end], "\n")
			word.WriteByte('$')
			inWord, dyn = true, true
			i = end - 1
		case ch == '$' && i+1 < len(src) && src[i+1] == '{':
			end := matching(i+1, '{', '}')
			word.WriteString(src[i:end])
			inWord, dyn = true, true
			i = end - 1
		case ch == '$' || ch == '`':
			if ch == '`' {
				end := strings.IndexByte(src[i+1:], '`')
				if end >= 0 {
					subs = append(subs, shSub{src: src[i+1 : i+1+end], line: line})
					i += end + 1
				}
			}
			word.WriteByte('$')
			inWord, dyn = true, true
		case ch == ' ' || ch == '\t':
			flush()
		case ch == '\n':
			flush()
			toks = append(toks, shTok{s: "\n", op: true, line: line})
			line++
			for _, d := range heredocs { // skip the heredoc bodies
				for i+1 < len(src) {
					end := strings.IndexByte(src[i+1:], '\n')
					if end < 0 {
						end = len(src) - i - 1
					}
					l := src[i+1 : i+1+end]
					i += end + 1
					line++
					if strings.TrimSpace(l) == d {
						break
					}
				}
			}
			heredocs = nil
		case strings.ContainsRune("|&;()<>", rune(ch)):
			if ch == '>' && inWord && isDigits(word.String()) { // 2>file
				word.Reset()
				inWord = false
			}
			flush()
			op := string(ch)
			for i+1 < len(src) && strings.ContainsRune("|&;<>", rune(src[i+1])) && len(op) < 3 && (src[i+1] == ch || ch == '>' && src[i+1] == '&' || ch == '<' && src[i+1] == '<') {
				i++
				op += string(src[i])
			}
			if op == "<<" {
				// The delimiter is the next word (quotes and - stripped).
				k := i + 1
				for k < len(src) && (src[k] == ' ' || src[k] == '-') {
					k++
				}
				e := k
				for e < len(src) && !strings.ContainsRune(" \t\n;|&<>", rune(src[e])) {
					e++
				}
				heredocs = append(heredocs, strings.Trim(src[k:e], `'"\`))
				i = e - 1
				op = "<"
			}
			toks = append(toks, shTok{s: op, op: true, line: line})
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return toks, subs
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

var (
	shBuiltins = wordSet(`cd echo printf test [ exit return set unset trap export local read shift
		wait kill true false : . source eval type hash ulimit umask break continue declare typeset
		readonly getopts pwd times jobs fg bg let shopt mapfile readarray alias unalias caller
		compgen complete disown enable help history logout popd pushd dirs suspend`)
	shKeywords = wordSet(`if then else elif while until do ! { time`)
	shEnders   = wordSet(`fi done esac } ]]`)
	// Words after which the next word is a command again.
	shPrefixes = wordSet(`exec command builtin nohup sudo env nice`)
	shAssign   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=`)
)

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// scanShell returns the programs a script runs (file names the findings).
func scanShell(src, file string, line0 int, fn string) []finding {
	return scanShellFuncs(src, file, line0, fn, map[string]bool{})
}

// scanShellFuncs is scanShell knowing the functions of the enclosing
// script (a $( ) may call them).
func scanShellFuncs(src, file string, line0 int, fn string, outer map[string]bool) []finding {
	toks, subs := shLex(src, line0)
	funcs := map[string]bool{}
	for f := range outer {
		funcs[f] = true
	}
	for i := 0; i+2 < len(toks); i++ {
		if !toks[i].op && toks[i+1].s == "(" && toks[i+2].s == ")" {
			funcs[toks[i].s] = true
		}
	}
	var out []finding
	start := true
	skipUntil := "" // for ... do, case ... in, [[ ... ]]
	inCase, pattern := false, false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if skipUntil != "" {
			if !t.op && t.s == skipUntil || skipUntil == "\n" && t.s == "\n" {
				if t.s == "in" && inCase {
					pattern = true
				}
				skipUntil = ""
				start = t.s == "do"
			}
			continue
		}
		if pattern { // a case pattern, up to ")"
			if t.op && t.s == ")" {
				pattern, start = false, true
			} else if !t.op && t.s == "esac" {
				pattern, inCase, start = false, false, false
			}
			continue
		}
		if t.op {
			switch t.s {
			case ";;":
				pattern = inCase
			case "<", ">", ">>", "<<", ">&", "<&", "&>":
				i++ // the redirection's target
				continue
			}
			start = t.s != ")" || !start
			continue
		}
		if !start {
			continue
		}
		switch w := t.s; {
		case t.dyn:
			start = false
		case shAssign.MatchString(w):
			if strings.HasSuffix(w, "=") && i+1 < len(toks) && toks[i+1].s == "(" { // a=(x y): an array
				for i+1 < len(toks) && toks[i+1].s != ")" {
					i++
				}
				i++
			}
		case shKeywords[w] || shPrefixes[w]:
			if w == "command" && i+1 < len(toks) && toks[i+1].s == "-v" {
				i++
			}
		case shEnders[w]:
			start = false
		case w == "for" || w == "select":
			skipUntil = "do"
		case w == "case":
			skipUntil, inCase = "in", true
		case w == "[[" || w == "((":
			skipUntil, start = map[string]string{"[[": "]]", "((": "\n"}[w], false
		case w == "-v":
		case funcs[w] || shBuiltins[w]:
			start = false
		default:
			out = append(out, finding{pos: token.Position{Filename: file, Line: t.line}, fn: fn, prog: w})
			start = false
		}
	}
	for _, s := range subs {
		out = append(out, scanShellFuncs(s.src, file, s.line, fn, funcs)...)
	}
	return out
}

// makeRecipes turns a Makefile into shell: its recipe lines (make's $$ is
// the shell's $, make variables become expansions) and $(shell ...) text.
func makeRecipes(src string) (script string) {
	var b strings.Builder
	lines := strings.Split(src, "\n")
	for n := 0; n < len(lines); n++ {
		l := lines[n]
		var text string
		switch {
		case strings.HasPrefix(l, "\t"):
			text = strings.TrimLeft(strings.TrimPrefix(l, "\t"), "@-+")
		case strings.Contains(l, "$(shell "):
			k := strings.Index(l, "$(shell ") + len("$(shell ")
			end := strings.LastIndex(l, ")")
			if end < k {
				end = len(l)
			}
			text = l[k:end]
		}
		text = strings.ReplaceAll(text, "$$", "\x00")
		text = makeVar.ReplaceAllString(text, "$$MAKEVAR")
		b.WriteString(strings.ReplaceAll(text, "\x00", "$") + "\n")
	}
	return b.String()
}

var makeVar = regexp.MustCompile(`\$[({][A-Za-z_@<^*%:=. -]+[)}]|\$[@<^*]`)
