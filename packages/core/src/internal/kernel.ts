/**
 * The kernel: one deterministic world of scheduler, trace, page allocator, swap, files and
 * address spaces. A run is one kernel: create it, build the scenario, spawn tasks, run.
 */
import { offsetIn } from './align.js';
import { checkOptionNames, HmmlabError } from './errors.js';
import { type FileMmapOp, ModelFile } from './mm/file.js';
import type { ThpMode } from './mm/huge.js';
import { Mm } from './mm/mm.js';
import { PageAllocator } from './mm/page.js';
import { SwapSpace } from './mm/swap.js';
import type { Srcu } from './notifier/srcu.js';
import { type KernelProfile, kernelProfile, type ProfileName } from './profile.js';
import { Atomic } from './sched/atomic.js';
import type { DecisionSource } from './sched/decisions.js';
import { Mutex, SpinLock } from './sched/mutex.js';
import { RwSemaphore } from './sched/rwsem.js';
import { type RunOptions, type RunResult, Scheduler, type Task } from './sched/scheduler.js';
import { Completion, WaitQueue } from './sched/wait-queue.js';
import { Workqueue } from './sched/workqueue.js';
import { type TaskKind, Trace, type TraceRecordMode } from './trace.js';

/** Options of a {@link Kernel}. */
export interface KernelOptions {
  /** Page size in bytes, a power of two ≥ 64. @defaultValue 4096 */
  pageSize?: number;
  /**
   * Words of contents per page. A word spans `pageSize / wordsPerPage` bytes. The default gives
   * 4-byte words, byte-exact as the kernel's tests need; fuzzing uses a few words per page.
   * @defaultValue pageSize / 4
   */
  wordsPerPage?: number;
  /** Kernel API profile of new address spaces. @defaultValue 'latest' */
  profile?: ProfileName;
  /** A trace to use, or how much of a new one to keep. @defaultValue 'ring' */
  trace?: Trace | TraceRecordMode;
  /**
   * Transparent huge pages (`/sys/kernel/mm/transparent_hugepage/enabled`): `always`, `madvise`
   * (only in `MADV_HUGEPAGE` ranges) or `never`. THP needs a PMD's worth (512 pages) of aligned
   * anonymous memory. @defaultValue 'madvise'
   */
  thp?: ThpMode;
  /** Pages of the hugetlb pool (`vm.nr_hugepages`, in PMD-sized huge pages). @defaultValue 0 */
  hugePages?: number;
  /** What-if changes to the profile, for experiments (see {@link KernelProfile}). */
  profileOverrides?: Partial<Omit<KernelProfile, 'name'>>;
}

/** The fields of {@link KernelOptions}, every one (the compiler checks it). */
const KERNEL_FIELDS = {
  pageSize: true,
  wordsPerPage: true,
  profile: true,
  trace: true,
  thp: true,
  hugePages: true,
  profileOverrides: true,
} as const satisfies Record<keyof KernelOptions, true>;

/** The hugetlb pool of a {@link Kernel} (`/proc/meminfo`'s `HugePages_*` of the PMD size). */
export interface HugetlbPool {
  /** `HugePages_Total`: the pool's size (`KernelOptions.hugePages`). */
  total: number;
  /** `HugePages_Free`: huge pages not mapped by anybody. */
  free: number;
  /** `HugePages_Rsvd`: free huge pages promised to mappings that have not faulted them in. */
  reserved: number;
}

/** The model kernel. */
export class Kernel {
  /** Bytes per page (`PAGE_SIZE`). */
  readonly pageSize: number;
  /** 32-bit words of contents per page. */
  readonly wordsPerPage: number;
  /** Bytes per word: `pageSize / wordsPerPage`. */
  readonly wordSize: number;
  /** The kernel API profile the model follows. */
  readonly profile: KernelProfile;
  /** The event trace of this kernel. */
  readonly trace: Trace;
  /** The scheduler that runs every task of this kernel. */
  readonly sched: Scheduler;
  /** The page allocator and `pfn_to_page` table. */
  readonly pages: PageAllocator;
  /** The swap device. */
  readonly swap = new SwapSpace();
  /** @internal Next invalidation id. */
  nextInvId = 1;
  /**
   * @internal The mmu notifier SRCU domain (`mmuNotifierSrcu`), made on first use. A field, not
   * a module-level `WeakMap` keyed by the kernel: V8's young-generation collector keeps the values
   * of such a map alive, and the domain reaches the whole run, so every run would outlive its end
   * until the next full collection.
   */
  notifierSrcu: Srcu | null = null;
  /** Transparent huge pages: `always`, `madvise` or `never`. */
  readonly thp: ThpMode;
  /**
   * The hugetlb pool (mm/hugetlb.c `struct hstate` of the PMD size): `free` huge pages, of which
   * `reserved` are promised to mappings (`resv_huge_pages`) and not yet faulted in.
   */
  readonly hugetlb: HugetlbPool;
  private readonly overrides: Partial<Omit<KernelProfile, 'name'>>;
  private nextMmId = 1;
  private nextFileId = 1;
  private readonly mms: Mm[] = [];
  private readonly counters = new Map<string, number>();

  constructor(options: KernelOptions = {}) {
    // A misspelt option (`pagesize`, `hugepages`) would model another kernel than the one asked for.
    checkOptionNames('Kernel', options, KERNEL_FIELDS);
    const pageSize = options.pageSize ?? 4096;
    if (!Number.isInteger(pageSize) || pageSize < 64 || (pageSize & (pageSize - 1)) !== 0) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `Kernel: pageSize ${String(pageSize)} must be a power of two of at least 64`);
    }
    const wordsPerPage = options.wordsPerPage ?? pageSize / 4;
    if (!Number.isInteger(wordsPerPage) || wordsPerPage < 1 || pageSize % wordsPerPage !== 0) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `Kernel: wordsPerPage ${String(wordsPerPage)} must be a positive integer dividing pageSize ${pageSize}`,
      );
    }
    this.pageSize = pageSize;
    this.wordsPerPage = wordsPerPage;
    this.wordSize = pageSize / wordsPerPage;
    this.overrides = options.profileOverrides ?? {};
    const thp = options.thp ?? 'madvise';
    if (thp !== 'always' && thp !== 'madvise' && thp !== 'never') {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `Kernel: thp "${String(thp)}" must be always, madvise or never`);
    }
    this.thp = thp;
    const hp = options.hugePages ?? 0;
    if (!Number.isInteger(hp) || hp < 0) {
      throw new HmmlabError('ERR_BAD_ARGUMENT', `Kernel: hugePages ${String(hp)} must be a non-negative integer`);
    }
    this.profile = kernelProfile(options.profile ?? 'latest', this.overrides);
    const tr = options.trace;
    this.trace = tr instanceof Trace ? tr : new Trace(tr ?? 'ring');
    this.sched = new Scheduler(this.trace);
    this.pages = new PageAllocator(this.sched, this.trace, wordsPerPage);
    this.hugetlb = this.pages.hugetlb;
    this.hugetlb.total = hp;
    this.hugetlb.free = hp;
  }

  /**
   * A per-kernel counter for ids (notifier insertion order, device VMs, fences). Ids come from the
   * kernel, never from module state, so a run does not depend on the runs before it.
   */
  nextId(counter: string): number {
    const n = (this.counters.get(counter) ?? 0) + 1;
    this.counters.set(counter, n);
    return n;
  }

  /**
   * Model time (`jiffies`) as the running task sees it ({@link Scheduler.clock}): one tick per
   * scheduler step, plus jumps while every task sleeps, less the steps the task was runnable while
   * another ran. A deadline taken and checked by one task (a retry loop's timeout) so counts the
   * time its CPU spent, not the time the interleaving gave to other tasks.
   */
  get jiffies(): number {
    return this.sched.clock();
  }

  /** A new process address space with `mm_users == 1`. */
  createMm(profile?: ProfileName): Mm {
    const mm = new Mm(this, this.nextMmId++, profile === undefined ? this.profile : kernelProfile(profile, this.overrides));
    this.mms.push(mm);
    return mm;
  }

  /** All address spaces created so far (including forked children), in creation order. */
  allMms(): readonly Mm[] {
    return this.mms;
  }

  /**
   * A new in-memory file: a regular file, a shmem file (`shmem: true`), or a device file whose
   * `mmap` op fills the VMAs that map it (with `vmInsertPage`).
   */
  createFile(name: string, options: { shmem?: boolean; size?: number; mmap?: FileMmapOp } = {}): ModelFile {
    return new ModelFile(this.nextFileId++, name, options.shmem ?? false, options.size ?? 0, this.pages, options.mmap ?? null);
  }

  /** Spawns a task (see {@link Scheduler.spawn}). */
  spawn(name: string, kind: TaskKind, fn: () => Promise<unknown> | unknown): Task {
    return this.sched.spawn(name, kind, fn);
  }

  /** Runs every spawned task to the end under `decisions`. */
  run(decisions: DecisionSource, options?: RunOptions): Promise<RunResult> {
    return this.sched.run(decisions, options);
  }

  /** A `struct mutex`. */
  mutex(name: string): Mutex {
    return new Mutex(this.sched, name);
  }

  /** A `spinlock_t`: taken without sleeping (see {@link SpinLock}). */
  spinlock(name: string): SpinLock {
    return new SpinLock(this.sched, name);
  }

  /** A `struct rw_semaphore`. */
  rwsem(name: string): RwSemaphore {
    return new RwSemaphore(this.sched, name);
  }

  /** A `wait_queue_head_t`. */
  waitQueue(name: string): WaitQueue {
    return new WaitQueue(this.sched, name);
  }

  /** An `atomic_t` (see {@link Atomic} for which operations order what). */
  atomic(name: string, initial = 0): Atomic {
    return new Atomic(this.sched, name, initial);
  }

  /** A `struct completion`. */
  completion(name: string): Completion {
    return new Completion(this.sched, name);
  }

  /** A workqueue with one worker task. */
  workqueue(name: string): Workqueue {
    return new Workqueue(this.sched, name);
  }

  /** `msleep`: sleeps `ticks` of model time. */
  msleep(ticks: number): Promise<void> {
    return this.sched.sleep(ticks);
  }

  /** A preemption point (`cond_resched`). */
  yieldPoint(): Promise<void> {
    return this.sched.yield();
  }

  /** Records a kernel WARN and carries on, as the kernel does. */
  warn(what: string, detail: string): void {
    if (this.trace.on) this.trace.emit({ type: 'warn', what, detail });
  }

  /**
   * The offset of `x` in its page (`offset_in_page`): `x % pageSize`, the same value, without the
   * floating-point remainder V8 calls for an address above 2^31.
   */
  pageOffset(x: number): number {
    return offsetIn(x, this.pageSize);
  }

  /** Rounds down to a page boundary (`PAGE_ALIGN_DOWN`). */
  pageAlignDown(x: number): number {
    return x - this.pageOffset(x);
  }

  /** Rounds up to a page boundary (`PAGE_ALIGN`). */
  pageAlign(x: number): number {
    const r = this.pageOffset(x);
    return r === 0 ? x : x + this.pageSize - r;
  }
}
