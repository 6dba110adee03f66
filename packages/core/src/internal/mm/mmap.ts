/**
 * mmap (mm/mmap.c `do_mmap` → `mmap_region`): checks the arguments as the syscall does, picks an
 * address, unmaps what `MAP_FIXED` replaces, and inserts the VMA. Shared anonymous memory gets a
 * shmem file (`shmem_zero_setup`).
 */
import { EINVAL, ENOMEM, HmmlabError } from '../errors.js';
import { invokeDriver } from '../notifier/invoke.js';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MMAP_MIN_ADDR,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
  VM_EXEC,
  VM_HUGETLB,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './constants.js';
import { populateRange } from './fault.js';
import type { ModelFile } from './file.js';
import { pmdSize } from './huge.js';
import { hugetlbReserve } from './hugetlb.js';
import type { Mm } from './mm.js';
import { doMunmap } from './munmap.js';
import { Vma } from './vma.js';

const KNOWN_FLAGS = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_POPULATE | MAP_HUGETLB;

/** `calc_vm_prot_bits`. */
export function protToVmFlags(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0);
}

/** `get_unmapped_area`, top-down: the highest free gap of `len` bytes below `mm.mmapBase`. */
export function findGap(mm: Mm, len: number, align = 1): number {
  let top = mm.mmapBase;
  for (let i = mm.vmas.length - 1; i >= -1; i--) {
    const v = mm.vmas[i];
    const floor = v === undefined ? MMAP_MIN_ADDR : v.end;
    if (v !== undefined && v.start >= top) continue;
    const at = top - len - ((top - len) % align);
    if (at >= floor) return at;
    if (v !== undefined) top = Math.min(top, v.start);
  }
  return -ENOMEM;
}

function rangeFree(mm: Mm, start: number, end: number): boolean {
  return start >= MMAP_MIN_ADDR && end <= TASK_SIZE && mm.vmasIn(start, end).length === 0;
}

/** `mmap(2)`. */
export async function mmap(
  mm: Mm,
  addr: number,
  length: number,
  prot: number,
  flags: number,
  file: ModelFile | null,
  offset: number,
): Promise<number> {
  const k = mm.kernel;
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `mmap: flags 0x${flags.toString(16)} include bits the model does not implement (0x${(flags & ~KNOWN_FLAGS).toString(16)}); supported: MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_POPULATE, MAP_HUGETLB`,
    );
  }
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) return -EINVAL;
  const anon = (flags & MAP_ANONYMOUS) !== 0;
  if (anon && file !== null) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', 'mmap: MAP_ANONYMOUS with a file; pass file = null for anonymous memory');
  }
  if (!anon && file === null) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', 'mmap: no file and no MAP_ANONYMOUS; pass a file from kernel.createFile() or MAP_ANONYMOUS');
  }
  const type = flags & (MAP_SHARED | MAP_PRIVATE);
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) return -EINVAL;
  if (!Number.isInteger(length) || length <= 0) return -EINVAL;
  if (!Number.isInteger(offset) || offset < 0 || offset % k.pageSize !== 0) return -EINVAL;
  if (!Number.isInteger(addr) || addr < 0) return -EINVAL;
  const hugetlb = (flags & MAP_HUGETLB) !== 0;
  if (hugetlb && (!anon || type === MAP_SHARED)) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      'mmap: MAP_HUGETLB is modelled for private anonymous mappings only; use MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB',
    );
  }
  if (mm.dead) return -ENOMEM;
  // ksys_mmap_pgoff: a MAP_HUGETLB length is rounded up to the huge page size.
  const hsize = hugetlb ? pmdSize(mm) : k.pageSize;
  const len = Math.ceil(k.pageAlign(length) / hsize) * hsize;
  if (len > TASK_SIZE) return -ENOMEM;
  if (hugetlb && (flags & MAP_FIXED) !== 0 && addr % hsize !== 0) return -EINVAL;

  const shared = type === MAP_SHARED;
  let vmFlags = protToVmFlags(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (shared) vmFlags |= VM_SHARED | VM_MAYSHARE;
  if (hugetlb) vmFlags |= VM_HUGETLB;

  await mm.mmapLock.downWrite();
  let start: number;
  try {
    if ((flags & MAP_FIXED) !== 0) {
      if (addr % k.pageSize !== 0) return -EINVAL;
      if (addr < MMAP_MIN_ADDR || addr + len > TASK_SIZE) return -ENOMEM;
      start = addr;
      await doMunmap(mm, start, start + len, 'mmap-fixed');
    } else {
      const hint = addr - (addr % hsize);
      start = hint !== 0 && rangeFree(mm, hint, hint + len) ? hint : findGap(mm, len, hsize);
      if (start < 0) return start;
    }
    // hugetlb_reserve_pages: the mapping's huge pages are reserved now, or mmap fails.
    if (hugetlb && !hugetlbReserve(k, len / hsize)) return -ENOMEM;
    let backing = file;
    if (anon && shared) backing = k.createFile(`shmem(mm ${mm.id}, ${start.toString(16)})`, { shmem: true, size: len });
    const vma = new Vma(start, start + len, vmFlags, backing, anon ? 0 : offset / k.pageSize);
    mm.insertVma(vma);
    const op = backing?.mmapOp ?? null;
    if (op !== null) {
      // call_mmap: the device file's mmap op fills the VMA; on failure the region is unmapped.
      const r = await invokeDriver(k.sched, `file "${backing?.name}" mmap`, false, () => op(vma));
      if (r !== 0) {
        await doMunmap(mm, start, start + len, 'mmap-error');
        return r;
      }
    }
    if (k.trace.on) {
      k.trace.emit({
        type: 'vma',
        mm: mm.id,
        op: 'mmap',
        start,
        end: start + len,
        detail: `prot ${prot} ${shared ? 'shared' : 'private'} ${anon ? 'anon' : `file ${backing?.name}`}`,
      });
    }
  } finally {
    mm.mmapLock.upWrite();
  }
  if ((flags & MAP_POPULATE) !== 0) {
    const write = (vmFlags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    await populateRange(mm, start, start + len, write);
  }
  return start;
}
