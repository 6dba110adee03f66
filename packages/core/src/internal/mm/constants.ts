/**
 * Constants with their kernel spelling and values (include/uapi/asm-generic/mman-common.h,
 * include/linux/mm.h).
 */

export const PROT_NONE = 0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;
export const MAP_HUGETLB = 0x40000;

export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

export const MADV_NORMAL = 0;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;

export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_PFNMAP = 0x400;
export const VM_IO = 0x4000;
export const VM_DONTCOPY = 0x20000;
export const VM_SOFTDIRTY = 0x8000000;
export const VM_MIXEDMAP = 0x10000000;

/** Largest address value of the model (`ULONG_MAX`): the largest integer a double holds exactly. */
export const ULONG_MAX = Number.MAX_SAFE_INTEGER;
/** End of the user address space (`TASK_SIZE` on x86-64, 47 bits). */
export const TASK_SIZE = 2 ** 47;
/** Lowest address `mmap` hands out without a hint (`mmap_min_addr`-like). */
export const MMAP_MIN_ADDR = 0x10000;
