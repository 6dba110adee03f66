/**
 * `struct vm_area_struct`: one mapping of an address space.
 */
import { VM_HUGETLB, VM_MAYWRITE, VM_READ, VM_SHARED, VM_WRITE } from './constants.js';
import type { ModelFile } from './file.js';
import type { Mm } from './mm.js';

/** A mapping: `[start, end)` with flags, anonymous or backed by a file. */
export class Vma {
  /** First address (inclusive, page aligned). */
  start: number;
  /** End address (exclusive, page aligned). */
  end: number;
  /** `VM_*` flags. */
  flags: number;
  /** Backing file (a shmem file for shared anonymous memory), or null for private anonymous memory. */
  file: ModelFile | null;
  /** File offset of `start`, in pages (`vm_pgoff`). */
  pgoff: number;
  /** The address space the VMA belongs to (`vm_mm`), set when it is inserted. */
  mm: Mm | null = null;
  /**
   * `vma->anon_vma != NULL`: an anonymous page was mapped here once (`anon_vma_prepare`). It stays
   * set when the pages go; fork copies the entries of such a VMA (mm/memory.c `vma_needs_copy`).
   */
  anonVma = false;

  constructor(start: number, end: number, flags: number, file: ModelFile | null, pgoff: number) {
    this.start = start;
    this.end = end;
    this.flags = flags;
    this.file = file;
    this.pgoff = pgoff;
  }

  /** `vma_is_anonymous`: private anonymous memory only (shared anonymous memory is shmem). */
  get anonymous(): boolean {
    return this.file === null;
  }

  /** `VM_SHARED`. */
  get shared(): boolean {
    return (this.flags & VM_SHARED) !== 0;
  }

  /** `is_cow_mapping`: private and may become writable. */
  get cow(): boolean {
    return (this.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
  }

  /** `is_vm_hugetlb_page`. */
  get hugetlb(): boolean {
    return (this.flags & VM_HUGETLB) !== 0;
  }

  /** `VM_READ`. */
  get readable(): boolean {
    return (this.flags & VM_READ) !== 0;
  }

  /** `VM_WRITE`. */
  get writable(): boolean {
    return (this.flags & VM_WRITE) !== 0;
  }

  /** A copy (for splits, mremap and fork). */
  clone(): Vma {
    const v = new Vma(this.start, this.end, this.flags, this.file, this.pgoff);
    v.anonVma = this.anonVma;
    return v;
  }

  /** Page index into the file of `va` (`linear_page_index`). */
  fileIndex(va: number, pageSize: number): number {
    return this.pgoff + Math.floor((va - this.start) / pageSize);
  }

  /** `vma [start, end)`, for messages. */
  toString(): string {
    return `vma [0x${this.start.toString(16)}, 0x${this.end.toString(16)})`;
  }
}
