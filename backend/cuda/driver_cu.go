//go:build cuda

package cuda

/*
#cgo LDFLAGS: -lcuda -Wl,--wrap=cuInit
#cgo linux CFLAGS: -I/usr/local/cuda/include
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64
#include <cuda.h>
#include <stdlib.h>

static int hgInitCalled;
static CUresult hgInitResult;

CUresult __real_cuInit(unsigned int flags);

// __wrap_cuInit stands in for cuInit everywhere in the program (the linker
// option --wrap=cuInit above redirects every call of cuInit to it, and its
// own call of __real_cuInit to the driver's cuInit). It records the driver's
// answer and reports success, so that the package initialization of
// gorgonia.org/cu, which calls os.Exit(1) when cuInit fails, lets the program
// run; openDriver then returns the recorded failure as an error.
CUresult __wrap_cuInit(unsigned int flags) {
	hgInitCalled = 1;
	hgInitResult = __real_cuInit(flags);
	return CUDA_SUCCESS;
}

static int hg_init_result(int* called) {
	*called = hgInitCalled;
	return (int)hgInitResult;
}

// hg_mem_alloc is cuMemAlloc returning the address by value, so that the Go
// caller passes no pointer (gorgonia.org/cu's MemAlloc makes its output
// variable escape: one small, unevenly counted Go allocation per call).
typedef struct {
	CUdeviceptr ptr;
	int res;
} hg_alloc_result;

static hg_alloc_result hg_mem_alloc(size_t bytes) {
	hg_alloc_result r;
	r.ptr = 0;
	r.res = (int)cuMemAlloc(&r.ptr, bytes);
	return r;
}

static const char* hg_error_name(int r) {
	const char* s = 0;
	if (cuGetErrorName((CUresult)r, &s) != CUDA_SUCCESS || s == 0) return "CUDA_ERROR_UNKNOWN";
	return s;
}

static const char* hg_error_string(int r) {
	const char* s = 0;
	if (cuGetErrorString((CUresult)r, &s) != CUDA_SUCCESS || s == 0) return "unknown error";
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/kernels"
)

// emulated reports whether the backend runs on the CPU emulator.
const emulated = false

// initError returns the failure of the cuInit that gorgonia.org/cu's init
// made, recorded by __wrap_cuInit, or nil.
func initError() error {
	var called C.int
	r := C.hg_init_result(&called)
	if called == 0 || r == 0 {
		return nil
	}
	return fmt.Errorf("cuInit: %s: %s (no usable NVIDIA driver or GPU)",
		C.GoString(C.hg_error_name(r)), C.GoString(C.hg_error_string(r)))
}

// cuDriver is the driver on gorgonia.org/cu: the device's primary context,
// one non-blocking stream on which every copy and kernel is ordered, and the
// kernels' modules loaded from the embedded PTX.
type cuDriver struct {
	dev    cu.Device
	ctx    cu.CUContext
	ctxOK  bool
	stream cu.Stream
	mods   []cu.Module
	fns    [numKernels]cu.Function
	params [16]unsafe.Pointer // cu's Launch reads 8 bytes through each
	desc   string
}

func openDriver(opts Options) (driver, error) {
	if err := initError(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuDeviceGetCount: %v", err)
	}
	if opts.Device < 0 || opts.Device >= n {
		return nil, fmt.Errorf("device %d requested, %d present", opts.Device, n)
	}
	dev, err := cu.GetDevice(opts.Device)
	if err != nil {
		return nil, fmt.Errorf("cuDeviceGet(%d): %v", opts.Device, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuDevicePrimaryCtxRetain: %v", err)
	}
	d := &cuDriver{dev: dev, ctx: ctx, ctxOK: true}
	fail := func(err error) (driver, error) {
		d.close()
		return nil, err
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		return fail(fmt.Errorf("cuCtxSetCurrent: %v", err))
	}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fail(fmt.Errorf("cuStreamCreate: %v", err))
	}
	for _, name := range kernels.Modules() {
		mod, err := loadPTX(name, kernels.PTX[name])
		if err != nil {
			return fail(err)
		}
		d.mods = append(d.mods, mod)
	}
	for k, name := range kernelNames {
		found := false
		for _, m := range d.mods {
			if fn, err := m.Function(name); err == nil {
				d.fns[k], found = fn, true
				break
			}
		}
		if !found {
			return fail(fmt.Errorf("kernel %s is in none of the modules %v", name, kernels.Modules()))
		}
	}
	d.desc = describe(dev)
	return d, nil
}

// loadPTX loads a module from PTX (cuModuleLoadDataEx: the driver
// JIT-compiles it for the device), returning the JIT's error log in the error.
func loadPTX(name, ptx string) (cu.Module, error) {
	const logSize = 16 << 10
	buf := C.calloc(logSize, 1) // C memory: the driver writes into it
	defer C.free(buf)
	log := &cu.JITErrorLogBuffer{Buffer: unsafe.Slice((*byte)(buf), logSize)}
	mod, err := cu.LoadDataEx(ptx, log)
	if err != nil {
		msg := strings.TrimSpace(C.GoString((*C.char)(buf)))
		if msg == "" {
			msg = "(empty JIT log)"
		}
		return cu.Module{}, fmt.Errorf("loading kernel module %s (PTX JIT): %v: %s", name, err, msg)
	}
	return mod, nil
}

// describe returns e.g. "cuda: NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB), driver 13.0".
func describe(dev cu.Device) string {
	name, err := dev.Name()
	if err != nil {
		name = "unknown GPU"
	}
	major, _ := dev.Attribute(cu.ComputeCapabilityMajor)
	minor, _ := dev.Attribute(cu.ComputeCapabilityMinor)
	sms, _ := dev.Attribute(cu.MultiprocessorCount)
	mem, _ := dev.TotalMem()
	v := cu.Version()
	return fmt.Sprintf("cuda: %s (sm_%d%d, %d SMs, %.1f GiB), driver %d.%d", name, major, minor, sms,
		float64(mem)/(1<<30), v/1000, v%1000/10)
}

func (d *cuDriver) describe() string { return d.desc }

func (d *cuDriver) memInfo() (free, total int64, err error) { return cu.MemInfo() }

func (d *cuDriver) alloc(bytes int64) (devptr, error) {
	r := C.hg_mem_alloc(C.size_t(bytes))
	switch r.res {
	case C.CUDA_SUCCESS:
		return devptr(r.ptr), nil
	case C.CUDA_ERROR_OUT_OF_MEMORY:
		return 0, fmt.Errorf("%w: cuMemAlloc: %s", backend.ErrOutOfMemory, C.GoString(C.hg_error_name(r.res)))
	}
	return 0, fmt.Errorf("cuMemAlloc: %s: %s", C.GoString(C.hg_error_name(r.res)), C.GoString(C.hg_error_string(r.res)))
}

func (d *cuDriver) free(p devptr) error {
	if err := cu.MemFree(cu.DevicePtr(p)); err != nil {
		return fmt.Errorf("cuMemFree: %v", err)
	}
	return nil
}

func (d *cuDriver) htod(dst devptr, src unsafe.Pointer, bytes int64) error {
	// From pageable memory the call returns once src has been staged, so
	// the caller may reuse it.
	if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, bytes, d.stream); err != nil {
		return fmt.Errorf("cuMemcpyHtoDAsync: %v", err)
	}
	return nil
}

func (d *cuDriver) dtoh(dst unsafe.Pointer, src devptr, bytes int64) error {
	if err := cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), bytes, d.stream); err != nil {
		return fmt.Errorf("cuMemcpyDtoHAsync: %v", err)
	}
	return d.sync()
}

func (d *cuDriver) dtod(dst, src devptr, bytes int64) error {
	if err := cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, d.stream); err != nil {
		return fmt.Errorf("cuMemcpyDtoDAsync: %v", err)
	}
	return nil
}

func (d *cuDriver) launch(k kernelID, grid int, args []uint64) error {
	p := d.params[:len(args)]
	for i := range args {
		p[i] = unsafe.Pointer(&args[i])
	}
	return d.fns[k].Launch(grid, 1, 1, blockSize, 1, 1, 0, d.stream, p)
}

func (d *cuDriver) sync() error {
	if err := d.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuStreamSynchronize: %v", err)
	}
	return nil
}

// enter locks the calling goroutine to its OS thread and makes the primary
// context current there (cuCtxSetCurrent, a thread-local store in the driver).
func (d *cuDriver) enter() error {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("cuCtxSetCurrent: %v", err)
	}
	return nil
}

func (d *cuDriver) exit() { runtime.UnlockOSThread() }

// close destroys the stream, unloads the modules and releases the primary
// context (which the driver destroys, with everything in it, when no other
// Backend of the process retains it).
func (d *cuDriver) close() error {
	if !d.ctxOK {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var errs []error
	if err := cu.SetCurrentContext(d.ctx); err != nil {
		errs = append(errs, fmt.Errorf("cuCtxSetCurrent: %v", err))
	}
	if d.stream != (cu.Stream{}) {
		if err := d.stream.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("cuStreamDestroy: %v", err))
		}
	}
	for _, m := range d.mods {
		if err := m.Unload(); err != nil {
			errs = append(errs, fmt.Errorf("cuModuleUnload: %v", err))
		}
	}
	d.mods = nil
	if err := d.dev.ReleasePrimaryCtx(); err != nil {
		errs = append(errs, fmt.Errorf("cuDevicePrimaryCtxRelease: %v", err))
	}
	d.ctxOK = false
	return errors.Join(errs...)
}
