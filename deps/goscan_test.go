package deps

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// This file finds the programs Go code runs: every exec.Command,
// exec.CommandContext and exec.LookPath, with the command line resolved
// from string literals, constants, local variables, []string literals,
// append chains, slices of them and functions that return a []string
// literal (like Host.Wrap). A function whose parameter ends up as the
// program is a wrapper (run(dir, name, args...)): its call sites are
// resolved the same way, through any number of wrapper levels. Launchers
// are followed to the program they start: nsenter ... -- P, ip netns exec
// NS P, env, timeout, and sh/bash -c 'script' (the script goes through the
// shell scanner). What stays unknown is reported as a dynamic site.

// elem is one command-line word: a literal, an unknown value, a
// parameter of the enclosing function, or the spread of a list parameter.
type elem struct {
	kind int
	s    string
	p    int
}

const (
	eLit = iota
	eUnknown
	eParam  // scalar parameter p
	eSpread // list parameter p, any number of words
	eRest   // any number of unknown words
)

type cmdline []elem

// finding is a program run at a place (dynamic: the program is unknown).
type finding struct {
	pos     token.Position
	fn      string // enclosing function
	prog    string
	dynamic bool
}

type funcInfo struct {
	decl   *ast.FuncDecl
	dir    string
	file   *ast.File
	params []string // names, in order (receiver excluded)
	vararg bool     // last parameter is variadic
}

type goScan struct {
	fset     *token.FileSet
	modPath  string
	root     string
	funcs    map[string][]*funcInfo // dir + "." + name
	methods  map[string][]*funcInfo // method name
	consts   map[string]string      // dir + "." + name
	wrappers map[*funcInfo][]cmdline
	found    []finding
	shell    func(script, file string, line int, fn string) []finding
}

// scanGo parses the files (path -> source) of module modPath rooted at root.
func scanGo(modPath, root string, files map[string][]byte, shell func(string, string, int, string) []finding) ([]finding, error) {
	g := &goScan{fset: token.NewFileSet(), modPath: modPath, root: root, funcs: map[string][]*funcInfo{},
		methods: map[string][]*funcInfo{}, consts: map[string]string{}, wrappers: map[*funcInfo][]cmdline{}, shell: shell}
	var parsed []*ast.File
	var dirs []string
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f, err := parser.ParseFile(g.fset, name, files[name], parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		dir := filepath.Dir(name)
		parsed, dirs = append(parsed, f), append(dirs, dir)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				fi := &funcInfo{decl: d, dir: dir, file: f}
				for _, fld := range d.Type.Params.List {
					if _, ok := fld.Type.(*ast.Ellipsis); ok {
						fi.vararg = true
					}
					for _, n := range fld.Names {
						fi.params = append(fi.params, n.Name)
					}
					if len(fld.Names) == 0 {
						fi.params = append(fi.params, "_")
					}
				}
				if d.Recv != nil {
					g.methods[d.Name.Name] = append(g.methods[d.Name.Name], fi)
				} else {
					g.funcs[dir+"."+d.Name.Name] = append(g.funcs[dir+"."+d.Name.Name], fi)
				}
			case *ast.GenDecl:
				g.addConsts(dir, d)
			}
		}
	}
	// Exec sites first; then call sites of wrappers until nothing changes.
	for i, f := range parsed {
		g.walkCalls(f, dirs[i], g.execSite)
	}
	for round := 0; round < 10; round++ {
		before := len(g.wrappers)
		for i, f := range parsed {
			g.walkCalls(f, dirs[i], g.wrapperSite)
		}
		if len(g.wrappers) == before {
			break
		}
	}
	return g.found, nil
}

func (g *goScan) addConsts(dir string, d *ast.GenDecl) {
	if d.Tok != token.CONST {
		return
	}
	for _, s := range d.Specs {
		vs := s.(*ast.ValueSpec)
		for i, n := range vs.Names {
			if i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if v, err := strconv.Unquote(lit.Value); err == nil {
						g.consts[dir+"."+n.Name] = v
					}
				}
			}
		}
	}
}

// ctx is where an expression is evaluated: a function of a file.
type ctx struct {
	fn   *funcInfo
	dir  string
	file *ast.File
}

// walkCalls calls visit for every call expression inside a function.
func (g *goScan) walkCalls(f *ast.File, dir string, visit func(ctx, *ast.CallExpr)) {
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		c := ctx{fn: g.infoOf(fd, dir), dir: dir, file: f}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				visit(c, call)
			}
			return true
		})
	}
}

func (g *goScan) infoOf(fd *ast.FuncDecl, dir string) *funcInfo {
	l := g.funcs[dir+"."+fd.Name.Name]
	if fd.Recv != nil {
		l = g.methods[fd.Name.Name]
	}
	for _, fi := range l {
		if fi.decl == fd {
			return fi
		}
	}
	return nil
}

// execSite handles exec.Command, exec.CommandContext, exec.LookPath.
func (g *goScan) execSite(c ctx, call *ast.CallExpr) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !g.isPkg(c, sel.X, "os/exec") {
		return
	}
	args := call.Args
	switch sel.Sel.Name {
	case "CommandContext":
		if len(args) == 0 {
			return
		}
		args = args[1:]
	case "Command", "LookPath":
	default:
		return
	}
	if len(args) == 0 {
		return
	}
	var lines []cmdline
	if x, ok := indexZero(args[0]); ok && (len(args) == 1 || len(args) == 2 && call.Ellipsis.IsValid() && sliceFromOne(args[1], x)) {
		lines = g.list(c, x, call.Pos())
	} else {
		lines = g.argv(c, args, call.Ellipsis.IsValid(), call.Pos())
	}
	for _, l := range lines {
		g.command(c, l, call.Pos())
	}
}

// wrapperSite handles a call of a wrapper: its template with the call's
// arguments in place of the parameters.
func (g *goScan) wrapperSite(c ctx, call *ast.CallExpr) {
	for _, w := range g.callees(c, call) {
		for _, t := range g.wrappers[w] {
			for _, l := range g.instantiate(c, t, w, call) {
				g.command(c, l, call.Pos())
			}
		}
	}
}

// command records the programs of one concrete command line, or makes
// the enclosing function a wrapper when a program is one of its params.
func (g *goScan) command(c ctx, l cmdline, pos token.Pos) {
	p := g.fset.Position(pos)
	fn := "?"
	if c.fn != nil {
		fn = c.fn.decl.Name.Name
	}
	for _, prog := range programs(l) {
		switch prog.kind {
		case eLit:
			if strings.Contains(prog.s, "\x00script:") {
				script := strings.TrimPrefix(prog.s, "\x00script:")
				g.found = append(g.found, g.shell(script, p.Filename, p.Line, fn)...)
				continue
			}
			g.addFinding(finding{pos: p, fn: fn, prog: prog.s})
		case eParam, eSpread:
			if c.fn != nil && !hasTemplate(g.wrappers[c.fn], l) {
				g.wrappers[c.fn] = append(g.wrappers[c.fn], l)
			}
		default:
			g.addFinding(finding{pos: p, fn: fn, dynamic: true})
		}
	}
}

func (g *goScan) addFinding(f finding) {
	for _, o := range g.found {
		if o == f {
			return
		}
	}
	g.found = append(g.found, f)
}

func hasTemplate(ts []cmdline, l cmdline) bool {
	for _, t := range ts {
		if fmt.Sprint(t) == fmt.Sprint(l) {
			return true
		}
	}
	return false
}

// programs returns the program words of a command line, following
// launchers to the program they start. A script elem carries sh -c's
// literal script.
func programs(l cmdline) []elem {
	if len(l) == 0 {
		return nil
	}
	first := l[0]
	if first.kind != eLit {
		return []elem{first}
	}
	out := []elem{first}
	rest := l[1:]
	lit := func(i int, s string) bool { return i < len(rest) && rest[i].kind == eLit && rest[i].s == s }
	switch filepath.Base(first.s) {
	case "nsenter":
		for i, e := range rest {
			if e.kind == eLit && e.s == "--" {
				return append(out, programs(rest[i+1:])...)
			}
		}
		for i, e := range rest {
			if e.kind != eLit || !strings.HasPrefix(e.s, "-") {
				return append(out, programs(rest[i:])...)
			}
		}
	case "ip":
		if lit(0, "netns") && lit(1, "exec") && len(rest) > 3 {
			return append(out, programs(rest[3:])...)
		}
	case "env":
		for i, e := range rest {
			if e.kind != eLit || !strings.Contains(e.s, "=") && !strings.HasPrefix(e.s, "-") {
				return append(out, programs(rest[i:])...)
			}
		}
	case "timeout":
		for i, e := range rest {
			if e.kind != eLit || !strings.HasPrefix(e.s, "-") {
				if i+1 < len(rest) {
					return append(out, programs(rest[i+1:])...)
				}
				break
			}
		}
	case "sh", "bash":
		if lit(0, "-c") && len(rest) > 1 && rest[1].kind == eLit {
			return append(out, elem{kind: eLit, s: "\x00script:" + rest[1].s})
		}
	}
	return out
}

// argv is the command line of exec.Command(name, args...).
func (g *goScan) argv(c ctx, args []ast.Expr, spread bool, pos token.Pos) []cmdline {
	return g.argvDepth(c, args, spread, pos, 0)
}

// product concatenates every line with every alternative (bounded).
func product(lines, alts []cmdline) []cmdline {
	var out []cmdline
	for _, l := range lines {
		for _, a := range alts {
			if len(out) < 64 {
				out = append(out, append(append(cmdline{}, l...), a...))
			}
		}
	}
	return out
}

func indexZero(e ast.Expr) (ast.Expr, bool) {
	ix, ok := e.(*ast.IndexExpr)
	if !ok {
		return nil, false
	}
	if lit, ok := ix.Index.(*ast.BasicLit); ok && lit.Value == "0" {
		return ix.X, true
	}
	return nil, false
}

func sliceFromOne(e, x ast.Expr) bool {
	s, ok := e.(*ast.SliceExpr)
	if !ok || s.High != nil || render(s.X) != render(x) {
		return false
	}
	lit, ok := s.Low.(*ast.BasicLit)
	return ok && lit.Value == "1"
}

// render names an expression's identifiers (to compare two mentions of
// one variable).
func render(e ast.Expr) string {
	var b strings.Builder
	ast.Inspect(e, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			b.WriteString(id.Name + ".")
		}
		return true
	})
	return b.String()
}
