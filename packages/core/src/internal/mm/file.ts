/**
 * A minimal in-memory file with a page cache: shmem backs shared anonymous mappings, and regular
 * files let the kernel's file_read/file_write tests be ported.
 */
import { HmmlabError } from '../errors.js';
import type { Page, PageAllocator } from './page.js';
import type { Vma } from './vma.js';

/** `file_operations.mmap` of a device file: fills the new VMA; returns 0 or a negative errno. */
export type FileMmapOp = (vma: Vma) => number | Promise<number>;

/** A file: its page cache, and a backing store for pages not in the cache. */
export class ModelFile {
  /** Unique id. */
  readonly id: number;
  /** Name for traces. */
  readonly name: string;
  /** shmem (tmpfs, shared anonymous memory): pages are swap-backed, mapped writable without write-notify. */
  readonly shmem: boolean;
  /** Size in bytes. */
  size: number;
  /** The page cache: page index → page (the cache holds one reference). */
  readonly cache = new Map<number, Page>();
  /** Contents of pages written back and dropped from the cache. */
  readonly store = new Map<number, Int32Array>();
  /** A device file's `mmap` op (`f_op->mmap`), which `mmap(2)` calls with the new VMA; null for regular files. */
  readonly mmapOp: FileMmapOp | null;
  private readonly pages: PageAllocator;

  constructor(id: number, name: string, shmem: boolean, size: number, pages: PageAllocator, mmapOp: FileMmapOp | null = null) {
    this.id = id;
    this.name = name;
    this.shmem = shmem;
    this.size = size;
    this.pages = pages;
    this.mmapOp = mmapOp;
  }

  /** Number of pages the file spans. */
  pageCount(pageSize: number): number {
    return Math.ceil(this.size / pageSize);
  }

  /** `filemap_fault`-style lookup: the cached page at `index`, read in from the store if needed. */
  getPage(index: number): Page {
    let p = this.cache.get(index);
    if (p !== undefined) return p;
    p = this.pages.allocPage({ zero: true });
    const saved = this.store.get(index);
    if (saved !== undefined) {
      p.words.set(saved);
      this.store.delete(index);
    }
    p.file = this;
    p.index = index;
    this.cache.set(index, p);
    return p;
  }

  /**
   * @internal Drops a page from the cache after its contents were saved (writeback or swap-out).
   * The cache's reference is put by the caller.
   */
  evict(p: Page): void {
    this.store.set(p.index, p.words.slice());
    this.cache.delete(p.index);
    // __filemap_remove_folio: the page leaves the mapping even if references remain.
    p.file = null;
  }

  /** `pwrite`: writes whole words at a word offset through the page cache. */
  writeWords(wordOffset: number, values: ArrayLike<number>, wordsPerPage: number, pageSize: number): void {
    if (!Number.isInteger(wordOffset) || wordOffset < 0) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `pwrite(${this.name}): word offset ${String(wordOffset)} must be a non-negative integer`);
    }
    for (let i = 0; i < values.length; i++) {
      const w = wordOffset + i;
      const p = this.getPage(Math.floor(w / wordsPerPage));
      p.words[w % wordsPerPage] = values[i] as number;
      p.dirty = true;
    }
    const bytes = ((wordOffset + values.length) * pageSize) / wordsPerPage;
    if (bytes > this.size) this.size = bytes;
  }

  /** `pread`: reads whole words at a word offset through the page cache. */
  readWords(wordOffset: number, count: number, wordsPerPage: number): Int32Array {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const w = wordOffset + i;
      out[i] = this.getPage(Math.floor(w / wordsPerPage)).words[w % wordsPerPage] as number;
    }
    return out;
  }
}
