package deps

import (
	"go/ast"
	"go/token"
	"path"
	"strconv"
	"strings"
)

const maxDepth = 12

// scalar evaluates a string expression to its possible values.
func (g *goScan) scalar(c ctx, e ast.Expr, pos token.Pos, depth int) []elem {
	unknown := []elem{{kind: eUnknown}}
	if depth > maxDepth {
		return unknown
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			if v, err := strconv.Unquote(e.Value); err == nil {
				return []elem{{kind: eLit, s: v}}
			}
		}
	case *ast.ParenExpr:
		return g.scalar(c, e.X, pos, depth+1)
	case *ast.Ident:
		if rhs, at, ok := g.local(c, e.Name, pos); ok {
			return g.scalar(c, rhs, at, depth+1)
		}
		if i, ok := c.param(e.Name); ok {
			return []elem{{kind: eParam, p: i}}
		}
		if v, ok := g.consts[c.dir+"."+e.Name]; ok {
			return []elem{{kind: eLit, s: v}}
		}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			if dir, ok := g.importDir(c, x.Name); ok {
				if v, ok := g.consts[dir+"."+e.Sel.Name]; ok {
					return []elem{{kind: eLit, s: v}}
				}
			}
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			l, r := g.scalar(c, e.X, pos, depth+1), g.scalar(c, e.Y, pos, depth+1)
			if len(l) == 1 && len(r) == 1 && l[0].kind == eLit && r[0].kind == eLit {
				return []elem{{kind: eLit, s: l[0].s + r[0].s}}
			}
		}
	case *ast.IndexExpr:
		lit, ok := e.Index.(*ast.BasicLit)
		k, err := strconv.Atoi(litValue(lit, ok))
		if err != nil {
			return unknown
		}
		var out []elem
		for _, l := range g.list(c, e.X, pos, depth+1) {
			out = append(out, wordAt(l, k))
		}
		if len(out) > 0 {
			return out
		}
	}
	return unknown
}

func litValue(l *ast.BasicLit, ok bool) string {
	if !ok {
		return ""
	}
	return l.Value
}

// wordAt is word k of a command line, if the words before it are single.
func wordAt(l cmdline, k int) elem {
	for i, e := range l {
		if e.kind == eSpread || e.kind == eRest {
			return elem{kind: eUnknown}
		}
		if i == k {
			return e
		}
	}
	return elem{kind: eUnknown}
}

// list evaluates a []string expression to its possible command lines.
func (g *goScan) list(c ctx, e ast.Expr, pos token.Pos, depthOpt ...int) []cmdline {
	depth := 0
	if len(depthOpt) > 0 {
		depth = depthOpt[0]
	}
	unknown := []cmdline{{{kind: eRest}}}
	if depth > maxDepth {
		return unknown
	}
	switch e := e.(type) {
	case *ast.CompositeLit:
		lines := []cmdline{{}}
		for _, el := range e.Elts {
			var alts []cmdline
			for _, s := range g.scalar(c, el, pos, depth+1) {
				alts = append(alts, cmdline{s})
			}
			lines = product(lines, alts)
		}
		return lines
	case *ast.ParenExpr:
		return g.list(c, e.X, pos, depth+1)
	case *ast.Ident:
		if rhs, at, ok := g.local(c, e.Name, pos); ok {
			return g.list(c, rhs, at, depth+1)
		}
		if i, ok := c.param(e.Name); ok {
			return []cmdline{{{kind: eSpread, p: i}}}
		}
	case *ast.SliceExpr:
		lit, ok := e.Low.(*ast.BasicLit)
		if !ok || lit.Value != "1" || e.High != nil {
			return unknown
		}
		var out []cmdline
		for _, l := range g.list(c, e.X, pos, depth+1) {
			if len(l) > 0 && l[0].kind != eSpread && l[0].kind != eRest {
				out = append(out, l[1:])
			} else {
				out = append(out, cmdline{{kind: eRest}})
			}
		}
		return out
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && id.Name == "append" && len(e.Args) > 0 {
			return product(g.list(c, e.Args[0], pos, depth+1), g.argvDepth(c, e.Args[1:], e.Ellipsis.IsValid(), pos, depth+1))
		}
		var out []cmdline
		for _, w := range g.callees(c, e) {
			for _, r := range returnedLists(w) {
				wc := ctx{fn: w, dir: w.dir, file: w.file}
				for _, t := range g.list(wc, r, r.Pos(), depth+1) {
					out = append(out, g.instantiate(c, t, w, e)...)
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return unknown
}

func (g *goScan) argvDepth(c ctx, args []ast.Expr, spread bool, pos token.Pos, depth int) []cmdline {
	lines := []cmdline{{}}
	for i, a := range args {
		var alts []cmdline
		if spread && i == len(args)-1 {
			alts = g.list(c, a, pos, depth+1)
		} else {
			for _, e := range g.scalar(c, a, pos, depth+1) {
				alts = append(alts, cmdline{e})
			}
		}
		lines = product(lines, alts)
	}
	return lines
}

// returnedLists are the expressions a function returns, if it has only
// single-value returns.
func returnedLists(w *funcInfo) []ast.Expr {
	var out []ast.Expr
	if w.decl.Body == nil {
		return nil
	}
	ast.Inspect(w.decl.Body, func(n ast.Node) bool {
		if _, ok := n.(*ast.FuncLit); ok {
			return false
		}
		if r, ok := n.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
			out = append(out, r.Results[0])
		}
		return true
	})
	return out
}

// instantiate puts a call's arguments into a wrapper's template.
func (g *goScan) instantiate(c ctx, t cmdline, w *funcInfo, call *ast.CallExpr) []cmdline {
	lines := []cmdline{{}}
	for _, e := range t {
		var alts []cmdline
		switch {
		case e.kind == eParam && e.p < len(call.Args):
			for _, s := range g.scalar(c, call.Args[e.p], call.Pos(), 0) {
				alts = append(alts, cmdline{s})
			}
		case e.kind == eSpread && w.vararg && e.p == len(w.params)-1 && !call.Ellipsis.IsValid():
			alts = g.argv(c, call.Args[min(e.p, len(call.Args)):], false, call.Pos())
		case e.kind == eSpread && e.p < len(call.Args):
			alts = g.list(c, call.Args[e.p], call.Pos())
		case e.kind == eParam || e.kind == eSpread:
			alts = []cmdline{{{kind: eUnknown}}}
		default:
			alts = []cmdline{{e}}
		}
		lines = product(lines, alts)
	}
	return lines
}

// local finds the last assignment to a local variable before pos: its
// value expression and where it is (to evaluate it there).
func (g *goScan) local(c ctx, name string, pos token.Pos) (ast.Expr, token.Pos, bool) {
	if c.fn == nil || c.fn.decl.Body == nil {
		return nil, 0, false
	}
	var rhs ast.Expr
	var at token.Pos
	ast.Inspect(c.fn.decl.Body, func(n ast.Node) bool {
		if n == nil || n.Pos() >= pos {
			return false
		}
		switch s := n.(type) {
		case *ast.AssignStmt:
			if len(s.Lhs) == len(s.Rhs) {
				for i, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == name && s.End() <= pos {
						rhs, at = s.Rhs[i], s.Pos()
					}
				}
			}
		case *ast.ValueSpec:
			for i, id := range s.Names {
				if id.Name == name && i < len(s.Values) && s.End() <= pos {
					rhs, at = s.Values[i], s.Pos()
				}
			}
		case *ast.RangeStmt:
			if id, ok := s.Value.(*ast.Ident); ok && id.Name == name && s.Body.Pos() <= pos && pos < s.Body.End() {
				rhs, at = nil, 0 // an element of a list: unknown
			}
		}
		return true
	})
	return rhs, at, rhs != nil
}

func (c ctx) param(name string) (int, bool) {
	if c.fn == nil {
		return 0, false
	}
	for i, p := range c.fn.params {
		if p == name {
			return i, true
		}
	}
	return 0, false
}

// callees are the functions a call may reach: same package by name,
// another package of the module by import, or any method of that name.
func (g *goScan) callees(c ctx, call *ast.CallExpr) []*funcInfo {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return g.funcs[c.dir+"."+f.Name]
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			if dir, ok := g.importDir(c, x.Name); ok {
				return g.funcs[dir+"."+f.Sel.Name]
			}
			if g.isImport(c, x.Name) {
				return nil
			}
		}
		return g.methods[f.Sel.Name]
	}
	return nil
}

// importDir maps a package name used in c's file to the module directory
// it imports.
func (g *goScan) importDir(c ctx, name string) (string, bool) {
	for _, im := range c.file.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if importName(im, p) != name {
			continue
		}
		if p == g.modPath {
			return ".", true
		}
		if strings.HasPrefix(p, g.modPath+"/") {
			return strings.TrimPrefix(p, g.modPath+"/"), true
		}
	}
	return "", false
}

func (g *goScan) isImport(c ctx, name string) bool {
	for _, im := range c.file.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if importName(im, p) == name {
			return true
		}
	}
	return false
}

func (g *goScan) isPkg(c ctx, x ast.Expr, pkgPath string) bool {
	id, ok := x.(*ast.Ident)
	if !ok {
		return false
	}
	for _, im := range c.file.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if p == pkgPath && importName(im, p) == id.Name {
			return true
		}
	}
	return false
}

func importName(im *ast.ImportSpec, p string) string {
	if im.Name != nil {
		return im.Name.Name
	}
	return path.Base(p)
}
