package engines

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/boltstore"
	"github.com/clusterf/clusterf/chunk/extent"
	"github.com/clusterf/clusterf/chunk/rawfile"
	"github.com/clusterf/clusterf/chunk/sqlitestore"
)

// Default is the engine used when none is recorded or asked for.
const Default = "rawfile"

// ErrUnknownEngine means an engine name (or minor version) is not supported.
var ErrUnknownEngine = errors.New("unknown storage engine")

type engine struct {
	minor string // current on-disk version
	open  func(dir string) (chunk.Store, error)
}

var registry = map[string]engine{
	"rawfile": {minor: "1", open: func(dir string) (chunk.Store, error) { return rawfile.Open(dir) }},
	"bolt":    {minor: "1", open: func(dir string) (chunk.Store, error) { return boltstore.Open(dir) }},
	"extent":  {minor: "1", open: func(dir string) (chunk.Store, error) { return extent.Open(dir) }},
	"sqlite":  {minor: "1", open: func(dir string) (chunk.Store, error) { return sqlitestore.Open(dir) }},
}

// Names returns the engine names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Minor returns the current minor (on-disk version) of an engine.
func Minor(name string) (string, error) {
	e, err := lookup(name)
	if err != nil {
		return "", err
	}
	return e.minor, nil
}

func lookup(name string) (engine, error) {
	e, ok := registry[name]
	if !ok {
		return engine{}, fmt.Errorf("%w %q (valid: %s)", ErrUnknownEngine, name, strings.Join(Names(), ", "))
	}
	return e, nil
}

// Open opens the store of the named engine in dir (created if needed). It
// does not consult or write the format lock; see ResolveFormat.
func Open(name, dir string) (chunk.Store, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return e.open(dir)
}
