//go:build cuda || cudaemu

package cuda

import "unsafe"

// devptr is a device address (cu.DevicePtr on a GPU, a host address in the
// emulator). 0 stands for "no memory" (empty arrays, nil operands).
type devptr = uint64

// driver is what the backend needs from CUDA: memory, copies and kernel
// launches, all ordered on one stream. There are two implementations:
// gorgonia.org/cu (driver_cu.go, build tag cuda) and the CPU emulator
// (driver_emu.go, build tag cudaemu without cuda).
//
// Every method except enter is called between enter and exit, on one OS
// thread (see the package documentation).
type driver interface {
	// describe returns a description of the device.
	describe() string
	// memInfo returns the device's free and total memory.
	memInfo() (free, total int64, err error)
	// alloc allocates bytes > 0 of device memory; the error wraps
	// backend.ErrOutOfMemory when there is not enough.
	alloc(bytes int64) (devptr, error)
	// free releases an allocation; earlier operations must have finished.
	free(p devptr) error
	// htod copies bytes from host memory to the device; src may be reused
	// when it returns.
	htod(dst devptr, src unsafe.Pointer, bytes int64) error
	// dtoh copies bytes from the device to host memory after every earlier
	// operation, and waits for the copy.
	dtoh(dst unsafe.Pointer, src devptr, bytes int64) error
	// dtod copies bytes between device buffers (the stream's copy, not a kernel).
	dtod(dst, src devptr, bytes int64) error
	// launch runs kernel k on grid blocks of blockSize threads; args holds
	// the 8 bytes of each parameter.
	launch(k kernelID, grid int, args []uint64) error
	// sync waits for every operation issued so far and returns the first
	// asynchronous failure.
	sync() error
	// enter binds the calling goroutine to the device (lock the OS thread,
	// make the context current); exit undoes it. enter calls exit itself
	// when it fails.
	enter() error
	exit()
	// close releases the stream, modules and context; every allocation has
	// been freed before.
	close() error
}
