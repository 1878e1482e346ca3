//go:build cudaemu && linux && amd64

// Package emu is a CPU emulator of the little of CUDA that backend/cuda uses:
// device memory, copies, and launches of the kernels of package kernels. It
// exists so that backend/cuda's host code and its kernels can be tested on a
// machine without a GPU (go test -tags cudaemu ./backend/cuda/...): the
// kernels' CUDA C is compiled as C++ (see csrc/cuda_emu.h) and run with the
// threads of a block as fibers, in shuffled order between barriers, so that
// indexing errors, missing barriers and reads of unwritten memory show up as
// wrong results, and out-of-bounds accesses as faults. See
// csrc/emu_runtime.cc for the execution and memory model.
//
// On first use the package compiles csrc/emu_runtime.cc with the kernel
// sources (kernels.Sources, so always those this binary was built with) into a
// shared library with the C++ compiler ($CXX, else c++ or g++), caches it under
// the user cache directory keyed by a hash of its sources, and loads it with
// dlopen. The emulator is process-wide (one emulated device) and serializes
// every call.
//
// What it cannot show: timing, warp-level behaviour (the kernels use none),
// races between blocks (blocks run one at a time), and differences of the
// GPU's math library (exp, log1p) from glibc's.
package emu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
	void (*set_order)(int, uint64_t);
	void (*set_total)(uint64_t);
	void (*meminfo)(uint64_t*, uint64_t*);
	int (*alloc)(uint64_t, uint64_t*);
	int (*release)(uint64_t);
	int (*live)(void);
	int (*copy_in)(uint64_t, const void*, uint64_t);
	int (*copy_out)(void*, uint64_t, uint64_t);
	int (*copy)(uint64_t, uint64_t, uint64_t);
	int (*kernel_count)(void);
	const char* (*kernel_name)(int);
	int (*kernel_arity)(int);
	int (*launch)(int, uint64_t, uint64_t, const uint64_t*, int, char*, int);
} emu_api;

static emu_api api;

#define EMU_SYM(field, name) do { \
	void* p = dlsym(h, name); \
	if (!p) return dlerror(); \
	*(void**)(&api.field) = p; \
} while (0)

static const char* emu_open(const char* path) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	EMU_SYM(set_order, "emu_set_order");
	EMU_SYM(set_total, "emu_set_total");
	EMU_SYM(meminfo, "emu_meminfo");
	EMU_SYM(alloc, "emu_alloc");
	EMU_SYM(release, "emu_free");
	EMU_SYM(live, "emu_live");
	EMU_SYM(copy_in, "emu_copy_in");
	EMU_SYM(copy_out, "emu_copy_out");
	EMU_SYM(copy, "emu_copy");
	EMU_SYM(kernel_count, "emu_kernel_count");
	EMU_SYM(kernel_name, "emu_kernel_name");
	EMU_SYM(kernel_arity, "emu_kernel_arity");
	EMU_SYM(launch, "emu_launch");
	return 0;
}

static void emu_set_order(int m, uint64_t s) { api.set_order(m, s); }
static void emu_set_total(uint64_t t) { api.set_total(t); }
static void emu_meminfo(uint64_t* f, uint64_t* t) { api.meminfo(f, t); }
static int emu_alloc(uint64_t n, uint64_t* p) { return api.alloc(n, p); }
static int emu_free(uint64_t p) { return api.release(p); }
static int emu_live(void) { return api.live(); }
static int emu_copy_in(uint64_t d, const void* s, uint64_t n) { return api.copy_in(d, s, n); }
static int emu_copy_out(void* d, uint64_t s, uint64_t n) { return api.copy_out(d, s, n); }
static int emu_copy(uint64_t d, uint64_t s, uint64_t n) { return api.copy(d, s, n); }
static int emu_kernel_count(void) { return api.kernel_count(); }
static const char* emu_kernel_name(int k) { return api.kernel_name(k); }
static int emu_kernel_arity(int k) { return api.kernel_arity(k); }
static int emu_launch(int k, uint64_t g, uint64_t b, const uint64_t* a, int n, char* e, int el) {
	return api.launch(k, g, b, a, n, e, el);
}
*/
import "C"

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/hypergrad-go/hypergrad/kernels"
)

//go:embed csrc/emu_runtime.cc csrc/cuda_emu.h
var csrc embed.FS

// ErrOutOfMemory is returned by Alloc beyond the emulated device memory.
var ErrOutOfMemory = errors.New("emulated device memory exhausted")

// Order is the order in which the emulator runs the blocks of a launch and
// the threads of a block between barriers.
type Order int

const (
	Forward  Order = iota // blocks and threads in index order
	Reverse               // in reverse index order
	Shuffled              // in a pseudo-random order (the default)
)

var (
	mu      sync.Mutex
	loaded  bool
	loadErr error
	names   map[string]int
)

// Open compiles (or finds in the cache) and loads the emulator. It is safe
// to call more than once; later calls return the first result.
func Open() error {
	mu.Lock()
	defer mu.Unlock()
	return openLocked()
}

func openLocked() error {
	if loaded || loadErr != nil {
		return loadErr
	}
	so, err := build()
	if err != nil {
		loadErr = fmt.Errorf("cuda emulator: %w", err)
		return loadErr
	}
	cs := C.CString(so)
	defer C.free(unsafe.Pointer(cs))
	if msg := C.emu_open(cs); msg != nil {
		loadErr = fmt.Errorf("cuda emulator: loading %s: %s", so, C.GoString(msg))
		return loadErr
	}
	names = map[string]int{}
	for k := range int(C.emu_kernel_count()) {
		names[C.GoString(C.emu_kernel_name(C.int(k)))] = k
	}
	loaded = true
	return nil
}

var kernelRE = regexp.MustCompile(`extern "C" __global__ void (?:__launch_bounds__\([^)]*\) )?(\w+)\(`)

// KernelNames returns the names of the kernels declared in the sources of
// package kernels, in file then source order.
func KernelNames() []string {
	var files []string
	for f := range kernels.Sources {
		if strings.HasSuffix(f, ".cu") {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		for _, m := range kernelRE.FindAllStringSubmatch(kernels.Sources[f], -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// cxxFlags are the flags of the emulator's compilation: no contraction of
// a*b+c (as nvcc -fmad=false), no reassociation.
var cxxFlags = []string{"-std=c++17", "-O2", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing",
	"-fPIC", "-shared", "-w"}

// build writes the emulator's sources to a cache directory keyed by their
// hash and compiles them, unless that was already done; it returns the
// shared library's path.
func build() (string, error) {
	files := map[string]string{}
	for name, text := range kernels.Sources {
		files[name] = text
	}
	for _, name := range []string{"emu_runtime.cc", "cuda_emu.h"} {
		b, err := csrc.ReadFile("csrc/" + name)
		if err != nil {
			return "", err
		}
		files[name] = string(b)
	}
	var all strings.Builder
	all.WriteString("// Generated by package emu: the runtime, then the kernels, then their table.\n")
	all.WriteString("#include \"emu_runtime.cc\"\n#include \"cuda_emu.h\"\n")
	var cu []string
	for name := range kernels.Sources {
		if strings.HasSuffix(name, ".cu") {
			cu = append(cu, name)
		}
	}
	sort.Strings(cu)
	for _, name := range cu {
		fmt.Fprintf(&all, "#include %q\n", name)
	}
	ks := KernelNames()
	all.WriteString("const EmuKernel emu_table[] = {\n")
	for _, k := range ks {
		fmt.Fprintf(&all, "\tEMU_KERNEL(%s),\n", k)
	}
	fmt.Fprintf(&all, "};\nconst int emu_table_len = %d;\n", len(ks))
	files["all.cc"] = all.String()

	cxx := os.Getenv("CXX")
	if cxx == "" {
		for _, c := range []string{"c++", "g++"} {
			if p, err := exec.LookPath(c); err == nil {
				cxx = p
				break
			}
		}
	}
	if cxx == "" {
		return "", errors.New("no C++ compiler found (set CXX)")
	}

	h := sha256.New()
	var keys []string
	for k := range files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00%s", k, len(files[k]), files[k])
	}
	fmt.Fprintf(h, "%s\x00%v", cxx, cxxFlags)
	sum := hex.EncodeToString(h.Sum(nil))[:20]

	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	dir := filepath.Join(root, "hypergrad-cudaemu")
	so := filepath.Join(dir, "emu-"+sum+".so")
	if _, err := os.Stat(so); err == nil {
		return so, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	for _, k := range keys {
		if err := os.WriteFile(filepath.Join(src, k), []byte(files[k]), 0o644); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(src, "emu.so")
	args := append(append([]string{}, cxxFlags...), "-o", tmp, "all.cc")
	cmd := exec.Command(cxx, args...)
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", cxx, strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp, so); err != nil {
		return "", err
	}
	return so, nil
}

func mustLoad() {
	if !loaded {
		if err := openLocked(); err != nil {
			panic(err)
		}
	}
}

// SetOrder sets the order of blocks and threads, and the seed of the
// shuffled order.
func SetOrder(o Order, seed uint64) {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	C.emu_set_order(C.int(o), C.uint64_t(seed))
}

// SetTotalMemory sets the emulated device's memory size (default 4 GiB).
func SetTotalMemory(bytes int64) {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	C.emu_set_total(C.uint64_t(bytes))
}

// MemInfo returns the emulated device's free and total memory.
func MemInfo() (free, total int64) {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	var f, t C.uint64_t
	C.emu_meminfo(&f, &t)
	return int64(f), int64(t)
}

// Live returns the number of live allocations.
func Live() int {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	return int(C.emu_live())
}

// Alloc allocates bytes > 0 of emulated device memory, filled with 0xFF bytes.
func Alloc(bytes int64) (uint64, error) {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	switch C.emu_alloc(C.uint64_t(bytes), &allocOut) {
	case 0:
		return uint64(allocOut), nil
	case 1:
		return 0, ErrOutOfMemory
	}
	return 0, fmt.Errorf("mmap of %d bytes failed", bytes)
}

// allocOut receives the address of an allocation (guarded by mu; a package
// variable, so that Alloc allocates no Go memory).
var allocOut C.uint64_t

// Free releases an allocation.
func Free(p uint64) error {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	if C.emu_free(C.uint64_t(p)) != 0 {
		return fmt.Errorf("free of %#x: not a live allocation", p)
	}
	return nil
}

// CopyIn copies n bytes from host memory src to the device address dst.
func CopyIn(dst uint64, src unsafe.Pointer, n int64) error {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	if C.emu_copy_in(C.uint64_t(dst), src, C.uint64_t(n)) != 0 {
		return fmt.Errorf("copy of %d bytes to %#x: outside the live allocations", n, dst)
	}
	return nil
}

// CopyOut copies n bytes from the device address src to host memory dst.
func CopyOut(dst unsafe.Pointer, src uint64, n int64) error {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	if C.emu_copy_out(dst, C.uint64_t(src), C.uint64_t(n)) != 0 {
		return fmt.Errorf("copy of %d bytes from %#x: outside the live allocations", n, src)
	}
	return nil
}

// Copy copies n bytes between device addresses.
func Copy(dst, src uint64, n int64) error {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	if C.emu_copy(C.uint64_t(dst), C.uint64_t(src), C.uint64_t(n)) != 0 {
		return fmt.Errorf("copy of %d bytes from %#x to %#x: outside the live allocations", n, src, dst)
	}
	return nil
}

// Kernel returns the index of the named kernel.
func Kernel(name string) (int, bool) {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	k, ok := names[name]
	return k, ok
}

// Launch runs kernel k on grid blocks of block threads with the arguments
// args (each the 8 bytes of one kernel parameter).
func Launch(k, grid, block int, args []uint64) error {
	mu.Lock()
	defer mu.Unlock()
	mustLoad()
	var ap *C.uint64_t
	if len(args) > 0 {
		ap = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	if C.emu_launch(C.int(k), C.uint64_t(grid), C.uint64_t(block), ap, C.int(len(args)), &launchErr[0], C.int(len(launchErr))) != 0 {
		return errors.New(C.GoString(&launchErr[0]))
	}
	return nil
}

// launchErr receives the message of a failed launch (guarded by mu; a
// package variable, so that a launch allocates nothing).
var launchErr [512]C.char
