//go:build cudaemu && !cuda

package cuda

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/backend/cuda/internal/emu"
)

// emulated reports whether the backend runs on the CPU emulator.
const emulated = true

// emuDriver runs the kernels on the CPU emulator of package emu. Operations
// complete before they return, so sync has nothing to wait for.
type emuDriver struct {
	kernels [numKernels]int
}

// openDriver loads the emulator. The environment variable HG_EMU_ORDER
// (forward, reverse or shuffled, the default) sets the order in which it
// runs blocks and threads, and HG_EMU_SEED the seed of the shuffle.
func openDriver(Options) (driver, error) {
	if err := emu.Open(); err != nil {
		return nil, err
	}
	order := emu.Shuffled
	switch os.Getenv("HG_EMU_ORDER") {
	case "forward":
		order = emu.Forward
	case "reverse":
		order = emu.Reverse
	case "", "shuffled":
	default:
		return nil, fmt.Errorf("HG_EMU_ORDER=%q: want forward, reverse or shuffled", os.Getenv("HG_EMU_ORDER"))
	}
	seed, _ := strconv.ParseUint(os.Getenv("HG_EMU_SEED"), 10, 64)
	emu.SetOrder(order, seed)
	d := &emuDriver{}
	for k, name := range kernelNames {
		i, ok := emu.Kernel(name)
		if !ok {
			return nil, fmt.Errorf("cuda emulator: no kernel %s", name)
		}
		d.kernels[k] = i
	}
	return d, nil
}

func (d *emuDriver) describe() string {
	_, total := emu.MemInfo()
	return fmt.Sprintf("cuda emulator on the CPU, %.1f GiB", float64(total)/(1<<30))
}

func (d *emuDriver) memInfo() (free, total int64, err error) {
	free, total = emu.MemInfo()
	return free, total, nil
}

func (d *emuDriver) alloc(bytes int64) (devptr, error) {
	p, err := emu.Alloc(bytes)
	if errors.Is(err, emu.ErrOutOfMemory) {
		return 0, fmt.Errorf("%w: %v", backend.ErrOutOfMemory, err)
	}
	return p, err
}

func (d *emuDriver) free(p devptr) error { return emu.Free(p) }

func (d *emuDriver) htod(dst devptr, src unsafe.Pointer, bytes int64) error {
	return emu.CopyIn(dst, src, bytes)
}

func (d *emuDriver) dtoh(dst unsafe.Pointer, src devptr, bytes int64) error {
	return emu.CopyOut(dst, src, bytes)
}

func (d *emuDriver) dtod(dst, src devptr, bytes int64) error { return emu.Copy(dst, src, bytes) }

func (d *emuDriver) launch(k kernelID, grid int, args []uint64) error {
	return emu.Launch(d.kernels[k], grid, blockSize, args)
}

func (d *emuDriver) sync() error  { return nil }
func (d *emuDriver) enter() error { return nil }
func (d *emuDriver) exit()        {}
func (d *emuDriver) close() error { return nil }
