/**
 * Constants with their kernel spelling and values (include/uapi/asm-generic/mman-common.h,
 * include/linux/mm.h).
 */

export const PROT_NONE = 0;
/** Pages may be read. */
export const PROT_READ = 0x1;
/** Pages may be written. */
export const PROT_WRITE = 0x2;
/** Pages may be executed. */
export const PROT_EXEC = 0x4;

/** Share changes with other mappings of the same object. */
export const MAP_SHARED = 0x01;
/** Changes are private (copy on write). */
export const MAP_PRIVATE = 0x02;
/** Place the mapping exactly at the given address. */
export const MAP_FIXED = 0x10;
/** Not backed by a file; contents are zero-filled. */
export const MAP_ANONYMOUS = 0x20;
/** Populate (prefault) the page tables. */
export const MAP_POPULATE = 0x8000;
/** Back the mapping with hugetlb pages from the kernel's pool (`hugePages`); `-ENOMEM` when it cannot reserve them. */
export const MAP_HUGETLB = 0x40000;

/** mremap may move the mapping. */
export const MREMAP_MAYMOVE = 1;
/** mremap moves the mapping to the given address (with `MREMAP_MAYMOVE`). */
export const MREMAP_FIXED = 2;
/** mremap leaves the old range mapped without pages (with `MREMAP_MAYMOVE`). */
export const MREMAP_DONTUNMAP = 4;

/** No special treatment. */
export const MADV_NORMAL = 0;
/** Drop the range's pages now: the next access faults in zero or file pages. */
export const MADV_DONTNEED = 4;
/** The range's pages may be freed lazily, if still clean when reclaimed. */
export const MADV_FREE = 8;
/** Allow transparent huge pages in the range (`VM_HUGEPAGE`; used when the kernel's `thp` is `madvise` or `always`). */
export const MADV_HUGEPAGE = 14;
/** Disallow transparent huge pages in the range (`VM_NOHUGEPAGE`). */
export const MADV_NOHUGEPAGE = 15;

/** `VM_READ`: the VMA may be read. */
export const VM_READ = 0x1;
/** `VM_WRITE`: the VMA may be written. */
export const VM_WRITE = 0x2;
/** `VM_EXEC`: the VMA may be executed. */
export const VM_EXEC = 0x4;
/** `VM_SHARED`: a shared mapping. */
export const VM_SHARED = 0x8;
/** `VM_MAYREAD`: mprotect may add `VM_READ`. */
export const VM_MAYREAD = 0x10;
/** `VM_MAYWRITE`: mprotect may add `VM_WRITE`. */
export const VM_MAYWRITE = 0x20;
/** `VM_MAYEXEC`: mprotect may add `VM_EXEC`. */
export const VM_MAYEXEC = 0x40;
/** `VM_MAYSHARE`: mapped with `MAP_SHARED`. */
export const VM_MAYSHARE = 0x80;
/** `VM_PFNMAP`: raw pfns without `struct page` (device mappings). */
export const VM_PFNMAP = 0x400;
/** `VM_IO`: memory-mapped I/O. */
export const VM_IO = 0x4000;
/** `VM_DONTCOPY`: not copied on fork. */
export const VM_DONTCOPY = 0x20000;
/** `VM_SOFTDIRTY`: soft-dirty tracking of the whole VMA. */
export const VM_SOFTDIRTY = 0x8000000;
/** `VM_HUGETLB`: a hugetlbfs mapping. */
export const VM_HUGETLB = 0x00400000;
/** `VM_HUGEPAGE`: `MADV_HUGEPAGE` was given. */
export const VM_HUGEPAGE = 0x20000000;
/** `VM_NOHUGEPAGE`: `MADV_NOHUGEPAGE` was given. */
export const VM_NOHUGEPAGE = 0x40000000;
/** `VM_MIXEDMAP`: pages and raw pfns mixed (`vm_insert_page`). */
export const VM_MIXEDMAP = 0x10000000;

/** Largest address value of the model (`ULONG_MAX`): the largest integer a double holds exactly. */
export const ULONG_MAX = Number.MAX_SAFE_INTEGER;
/** End of the user address space (`TASK_SIZE` on x86-64, 47 bits). */
export const TASK_SIZE = 2 ** 47;
/** Lowest address `mmap` hands out without a hint (`mmap_min_addr`-like). */
export const MMAP_MIN_ADDR = 0x10000;
