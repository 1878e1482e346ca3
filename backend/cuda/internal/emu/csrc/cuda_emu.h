// cuda_emu.h makes the CUDA C of kernels/*.cu compile as C++ for the CPU
// emulator of backend/cuda. It is included after emu_runtime.cc and before the
// kernel sources. Only what those kernels use is provided: 1-D indices,
// __shared__ arrays, __syncthreads, and the double-precision math functions of
// <math.h>. Warp intrinsics and atomics are deliberately absent: a kernel that
// uses them does not compile here.
#ifndef HG_CUDA_EMU_H
#define HG_CUDA_EMU_H

#include <math.h>

#define threadIdx emu_threadIdx
#define blockIdx emu_blockIdx
#define blockDim emu_blockDim
#define gridDim emu_gridDim

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Only one block runs at a time, so a static variable is the block's shared memory.
#define __shared__ static
#define __syncthreads() emu_syncthreads()
#define __threadfence() ((void)0)

#endif
