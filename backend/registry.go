package backend

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Opener creates a backend with its default configuration.
type Opener func() (Backend, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// ErrNotBuilt is returned by Open for the CUDA backend in a binary built
// without the cuda build tag.
var ErrNotBuilt = errors.New("hypergrad was built without the cuda tag (go build -tags cuda)")

// Register makes a backend available to Open under name, as database/sql
// drivers register themselves: backend/cpu registers "cpu" and, in binaries
// built with -tags cuda, backend/cuda registers "cuda" and "cuda-f32".
// Registering a name
// twice replaces the earlier opener.
func Register(name string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[name] = open
}

// Open creates the backend registered under name. The package that
// implements it must be imported (for its side effect) by the program.
func Open(name string) (Backend, error) {
	registryMu.Lock()
	open, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		if name == "cuda" || name == "cuda-f32" {
			return nil, ErrNotBuilt
		}
		return nil, fmt.Errorf("unknown backend %q (available: %v)", name, Names())
	}
	return open()
}

// Names lists the registered backends in sorted order.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
