// CPU emulator of the CUDA execution model, for testing backend/cuda's host code
// and kernels on a machine without a GPU (build tag cudaemu).
//
// Package emu compiles this file, together with kernels/*.cu (through
// cuda_emu.h) and a generated kernel table, into a shared library at run time
// and loads it with dlopen; see emu.go.
//
// Execution model. A launch runs its blocks one after another (in forward,
// reverse or shuffled order). A block runs its threads as fibers on one OS
// thread: each fiber runs until it reaches __syncthreads() or returns, then the
// next fiber runs; when all have arrived, the next phase starts, with the
// fibers in a new order. Running the threads of a phase in shuffled order
// exposes races that a missing __syncthreads() would cause; a barrier that
// some threads reach while others have returned is reported as an error
// (on a GPU it is undefined behaviour). Because one block runs at a time, a
// static variable serves as the block's shared memory.
//
// Memory. Every allocation is an mmap'd region whose end abuts a PROT_NONE
// page, so reading or writing past the end of a buffer faults at once; fresh
// memory is filled with 0xFF bytes (a NaN pattern), so a kernel that reads
// memory nobody wrote gives NaN. Copies are checked against the live
// allocations. The emulated device has a fixed total memory (default 4 GiB);
// allocations beyond it fail as out of memory.
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

struct hg_dim3 {
	unsigned int x, y, z;
};

hg_dim3 emu_threadIdx, emu_blockIdx, emu_blockDim, emu_gridDim;

// ---------------------------------------------------------------- fibers (x86-64 SysV)

// emu_switch saves the callee-saved registers on the current stack, stores
// the stack pointer in *save and resumes the context whose stack pointer is
// to. MXCSR and the x87 control word are not switched: the kernels never
// change them, so every fiber runs with those of the launching thread.
extern "C" void emu_switch(void** save, void* to);
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".type emu_switch,@function\n"
    "emu_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size emu_switch, .-emu_switch\n");

namespace {

const int kMaxThreads = 1024;
const size_t kStackSize = 128 << 10;

enum State { kReady, kBarrier, kDone };

struct Fiber {
	void* sp;
	State state;
};

Fiber fibers[kMaxThreads];
char* stacks;     // kMaxThreads stacks, each above a guard page
size_t stackSpan; // guard page + stack
void* schedSP;
int nthreads;
int order[kMaxThreads];
int pos;
int cur;
const std::function<void()>* body;

int orderMode = 2; // 0 forward, 1 reverse, 2 shuffled
uint64_t rng = 0x9e3779b97f4a7c15ull;

uint64_t nextRand() { // xorshift64*
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

// Shuffled orders come from a cache of kPerms random permutations (drawing a
// new one for every phase would cost as much as the phase itself).
const int kPerms = 61;
int permN = -1;
int perms[kPerms][kMaxThreads];
uint64_t phaseCount;

void permute(int* a, int n) {
	if (orderMode == 0) {
		for (int i = 0; i < n; i++) a[i] = i;
		return;
	}
	if (orderMode == 1) {
		for (int i = 0; i < n; i++) a[i] = n - 1 - i;
		return;
	}
	if (permN != n) {
		for (int k = 0; k < kPerms; k++) {
			int* p = perms[k];
			for (int i = 0; i < n; i++) p[i] = i;
			for (int i = n - 1; i > 0; i--) {
				int j = (int)(nextRand() % (uint64_t)(i + 1));
				int t = p[i];
				p[i] = p[j];
				p[j] = t;
			}
		}
		permN = n;
	}
	memcpy(a, perms[phaseCount++ % kPerms], sizeof(int) * (size_t)n);
}

// nextFiber leaves the running fiber (which has reached a barrier or
// returned) for the next fiber of the phase, or the scheduler at its end.
void nextFiber() {
	int me = cur;
	pos++;
	if (pos < nthreads) {
		cur = order[pos];
		emu_threadIdx.x = (unsigned)cur;
		emu_switch(&fibers[me].sp, fibers[cur].sp);
	} else {
		emu_switch(&fibers[me].sp, schedSP);
	}
}

void fiberEntry() {
	(*body)();
	fibers[cur].state = kDone;
	nextFiber();
	__builtin_trap(); // a finished fiber is never resumed
}

void* initialSP(int t) {
	uintptr_t top = (uintptr_t)(stacks + (size_t)t * stackSpan + stackSpan) & ~(uintptr_t)15;
	uint64_t* ret = (uint64_t*)(top - 16); // 16-byte aligned slot of the return address
	ret[0] = (uint64_t)(uintptr_t)&fiberEntry;
	ret[1] = 0;
	uint64_t* sp = ret - 6; // the six callee-saved registers
	for (int i = 0; i < 6; i++) sp[i] = 0;
	return sp;
}

bool initStacks() {
	if (stacks) return true;
	long page = sysconf(_SC_PAGESIZE);
	stackSpan = kStackSize + (size_t)page;
	void* p = mmap(0, stackSpan * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) return false;
	stacks = (char*)p;
	for (int t = 0; t < kMaxThreads; t++) mprotect(stacks + (size_t)t * stackSpan, (size_t)page, PROT_NONE);
	return true;
}

// runBlock runs one block of nthreads fibers; it returns 0, or -1 with a
// message in err.
int runBlock(char* err, int errlen) {
	for (int t = 0; t < nthreads; t++) {
		fibers[t].sp = initialSP(t);
		fibers[t].state = kReady;
	}
	for (int phase = 0;; phase++) {
		permute(order, nthreads);
		pos = 0;
		cur = order[0];
		emu_threadIdx.x = (unsigned)cur;
		emu_switch(&schedSP, fibers[cur].sp);
		int atBarrier = 0, done = 0;
		for (int t = 0; t < nthreads; t++) {
			if (fibers[t].state == kBarrier) atBarrier++;
			if (fibers[t].state == kDone) done++;
		}
		if (done == nthreads) return 0;
		if (atBarrier == nthreads) {
			for (int t = 0; t < nthreads; t++) fibers[t].state = kReady;
			continue;
		}
		snprintf(err, (size_t)errlen,
		         "block %u, barrier %d: __syncthreads() reached by %d of %d threads while %d had returned",
		         emu_blockIdx.x, phase, atBarrier, nthreads, done);
		return -1;
	}
}

// ---------------------------------------------------------------- memory

struct Region {
	char* base;    // start of the mapping
	size_t mapped; // bytes mapped, guard page included
	size_t bytes;  // bytes requested
};

std::map<uintptr_t, Region> regions; // by user pointer
uint64_t totalMem = 4ull << 30;
uint64_t usedMem;

bool inside(uintptr_t p, uint64_t n) {
	if (n == 0) return true;
	auto it = regions.upper_bound(p);
	if (it == regions.begin()) return false;
	--it;
	return p >= it->first && p + n <= it->first + it->second.bytes;
}

// ---------------------------------------------------------------- kernels

template <typename T>
T arg(const uint64_t* a, int i) {
	static_assert(sizeof(T) == 8, "every kernel parameter must be 64 bits wide");
	T v;
	memcpy(&v, &a[i], 8);
	return v;
}

template <typename... A, size_t... I>
void invoke(void (*f)(A...), const uint64_t* a, std::index_sequence<I...>) {
	f(arg<A>(a, (int)I)...);
}

template <typename F>
struct Arity;
template <typename... A>
struct Arity<void(A...)> {
	static const int n = sizeof...(A);
};

} // namespace

struct EmuKernel {
	const char* name;
	int arity;
	void (*call)(const uint64_t* args);
};

#define EMU_KERNEL(f)                                                                              \
	{                                                                                              \
		#f, Arity<decltype(f)>::n, [](const uint64_t* a) {                                         \
			invoke(f, a, std::make_index_sequence<(size_t)Arity<decltype(f)>::n>{});               \
		}                                                                                          \
	}

void emu_syncthreads() {
	fibers[cur].state = kBarrier;
	nextFiber();
}

extern const EmuKernel emu_table[];
extern const int emu_table_len;

// ---------------------------------------------------------------- C API

extern "C" {

void emu_set_order(int mode, uint64_t seed) {
	orderMode = mode;
	rng = seed ? seed : 0x9e3779b97f4a7c15ull;
	permN = -1;
	phaseCount = 0;
}

void emu_set_total(uint64_t total) { totalMem = total; }

void emu_meminfo(uint64_t* freeMem, uint64_t* total) {
	*total = totalMem;
	*freeMem = usedMem > totalMem ? 0 : totalMem - usedMem;
}

// emu_alloc returns 0 and the address in *ptr, 1 when the emulated device
// memory is exhausted, 2 when mmap fails.
int emu_alloc(uint64_t bytes, uint64_t* ptr) {
	if (bytes == 0 || bytes > totalMem - usedMem || usedMem > totalMem) return 1;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (bytes + 7) & ~(size_t)7;
	size_t mapped = ((body + page - 1) / page) * page + page;
	void* p = mmap(0, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) return 2;
	char* base = (char*)p;
	mprotect(base + mapped - page, page, PROT_NONE);
	char* user = base + mapped - page - body;
	memset(user, 0xFF, body);
	regions[(uintptr_t)user] = Region{base, mapped, (size_t)bytes};
	usedMem += bytes;
	*ptr = (uint64_t)(uintptr_t)user;
	return 0;
}

// emu_free returns 0, or 1 for a pointer that is not a live allocation.
int emu_free(uint64_t ptr) {
	auto it = regions.find((uintptr_t)ptr);
	if (it == regions.end()) return 1;
	usedMem -= it->second.bytes;
	munmap(it->second.base, it->second.mapped);
	regions.erase(it);
	return 0;
}

int emu_live(void) { return (int)regions.size(); }

// The copies return 0, or 1 when a device range is not inside one live allocation.
int emu_copy_in(uint64_t dst, const void* src, uint64_t n) {
	if (!inside((uintptr_t)dst, n)) return 1;
	if (n) memcpy((void*)(uintptr_t)dst, src, n);
	return 0;
}

int emu_copy_out(void* dst, uint64_t src, uint64_t n) {
	if (!inside((uintptr_t)src, n)) return 1;
	if (n) memcpy(dst, (const void*)(uintptr_t)src, n);
	return 0;
}

int emu_copy(uint64_t dst, uint64_t src, uint64_t n) {
	if (!inside((uintptr_t)dst, n) || !inside((uintptr_t)src, n)) return 1;
	if (n) memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n);
	return 0;
}

int emu_kernel_count(void) { return emu_table_len; }
const char* emu_kernel_name(int k) { return emu_table[k].name; }
int emu_kernel_arity(int k) { return emu_table[k].arity; }

// emu_launch runs kernel k on grid blocks of block threads with the nargs
// 8-byte arguments args. It returns 0, or -1 with a message in err.
int emu_launch(int k, uint64_t grid, uint64_t block, const uint64_t* args, int nargs, char* err, int errlen) {
	if (k < 0 || k >= emu_table_len) {
		snprintf(err, (size_t)errlen, "no kernel %d", k);
		return -1;
	}
	const EmuKernel& kern = emu_table[k];
	if (nargs != kern.arity) {
		snprintf(err, (size_t)errlen, "%s takes %d arguments, launched with %d", kern.name, kern.arity, nargs);
		return -1;
	}
	if (grid == 0 || grid > 0x7fffffffull || block == 0 || block > (uint64_t)kMaxThreads) {
		snprintf(err, (size_t)errlen, "%s: invalid launch configuration: grid %llu, block %llu", kern.name,
		         (unsigned long long)grid, (unsigned long long)block);
		return -1;
	}
	if (!initStacks()) {
		snprintf(err, (size_t)errlen, "cannot map fiber stacks");
		return -1;
	}
	uint64_t a[32];
	memcpy(a, args, sizeof(uint64_t) * (size_t)nargs);
	std::function<void()> f = [&kern, &a]() { kern.call(a); };
	body = &f;
	nthreads = (int)block;
	emu_blockDim = hg_dim3{(unsigned)block, 1, 1};
	emu_gridDim = hg_dim3{(unsigned)grid, 1, 1};
	emu_threadIdx = hg_dim3{0, 0, 0};
	std::vector<unsigned> blocks((size_t)grid);
	for (uint64_t i = 0; i < grid; i++) blocks[i] = orderMode == 1 ? (unsigned)(grid - 1 - i) : (unsigned)i;
	if (orderMode == 2) {
		for (uint64_t i = grid - 1; i > 0; i--) {
			uint64_t j = nextRand() % (i + 1);
			unsigned t = blocks[i];
			blocks[i] = blocks[j];
			blocks[j] = t;
		}
	}
	for (uint64_t i = 0; i < grid; i++) {
		emu_blockIdx = hg_dim3{blocks[i], 0, 0};
		if (runBlock(err, errlen) != 0) {
			int n = (int)strlen(err);
			snprintf(err + n, (size_t)(errlen - n), " (kernel %s)", kern.name);
			body = 0;
			return -1;
		}
	}
	body = 0;
	return 0;
}

} // extern "C"
