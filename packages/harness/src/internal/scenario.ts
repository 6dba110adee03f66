/**
 * Scenarios as data: an address-space layout and concurrent programs of CPU threads, device work,
 * driver actions and kernel background work. Plain JSON, so the fuzzer can generate, shrink and
 * replay them; addresses are (region, page, word), resolved when the op runs.
 */

import { HmmlabError, type KernelProfile, kernelProfile, PROFILE_NAMES, type ProfileName, type TaskKind } from '@hmmlab/core';
import type { MemoryHold } from './device.js';

/** Protection of a region. */
export type Prot = 'none' | 'r' | 'rw';

/** One `mmap` of the process's layout. */
export interface RegionSpec {
  /** Length in pages. */
  readonly pages: number;
  /** Protection of the mapping. */
  readonly prot: Prot;
  /** MAP_PRIVATE or MAP_SHARED. */
  readonly share: 'private' | 'shared';
  /** Anonymous memory or a file (a fresh in-memory file of the region's size). */
  readonly backing: 'anon' | 'file';
  /** Touch every page before the tasks start: `read` maps zero pages, `write` stores word 0. @defaultValue 'none' */
  readonly populate?: 'none' | 'read' | 'write';
  /**
   * Transparent huge pages: the region is mapped at a PMD-aligned address and advised
   * `MADV_HUGEPAGE`, so the first touch of each 512-page block maps a THP. Private anonymous
   * regions of a multiple of 512 pages only. @defaultValue false
   */
  readonly thp?: boolean;
}

/** Where an op points: region, page in the region, word in the page. */
interface At {
  readonly region: number;
  readonly page: number;
  readonly word?: number;
}

/** Which process an op runs in: 0 is the main process, forks add 1, 2, … @defaultValue 0 */
interface InProc {
  readonly proc?: number;
}

interface PageRange {
  readonly region: number;
  readonly page: number;
  readonly pages: number;
}

/**
 * A CPU range that may span regions: with `through`, it runs from `(region, page)` to the end of
 * page `through.page` of region `through.region` (in whichever order the two lie in the address
 * space), over every VMA and gap between them, and `pages` is ignored.
 */
type SpanRange = PageRange & { readonly through?: { readonly region: number; readonly page: number } };

/**
 * Which binding a driver action goes through: 0 (the default) is the scenario's binding; `n` is
 * the process's binding of the driver's device `n`, opened (`bind(mm, { device: n })`) at its
 * first use, as a process opens a second GPU.
 */
interface ThroughDevice {
  readonly device?: number;
}

/**
 * One step of a program: `op` names it. Where it acts: `region`, `page` and `word` (a word of one
 * page), or `region`, `page` and `pages` (a page range; a CPU range may reach through another
 * region with `through`), and for CPU and kernel ops the process `proc` (0 is the main process,
 * forks add 1, 2, …). `value` is the word a store writes, `prot` and `advice` the syscall's
 * argument, `write` a pin or prefetch for writing, `device` the index of the device among the
 * driver's devices (0 by default; for a driver action, the binding it goes through: see
 * `ThroughDevice`), a device access's `pages` how many pages it spans, and `name` a driver
 * command's name.
 */
export type OpSpec =
  /** A CPU load of the word. */
  | ({ readonly op: 'read' } & At & InProc)
  /** A CPU store of `value` to the word. */
  | ({ readonly op: 'write'; readonly value: number } & At & InProc)
  /** `munmap` of the pages. */
  | ({ readonly op: 'munmap' } & SpanRange & InProc)
  /** `mprotect` of the pages to `prot`. */
  | ({ readonly op: 'mprotect'; readonly prot: Prot } & SpanRange & InProc)
  /** `mremap` of region `region` to a new place: its pages move, its base changes. */
  | ({ readonly op: 'mremap'; readonly region: number } & InProc)
  /** `madvise` of the pages with `MADV_DONTNEED` or `MADV_FREE`. */
  | ({ readonly op: 'madvise'; readonly advice: 'dontneed' | 'free' | 'nohugepage' } & SpanRange & InProc)
  /** A GUP pin of the page (`pin_user_pages`), held over a few steps of DMA, then dropped. */
  | ({ readonly op: 'pin'; readonly write: boolean } & At & InProc)
  /** `fork` of the main process: the child is the next process. */
  | { readonly op: 'fork' }
  /** A write of 4 to `/proc/<pid>/clear_refs`: clears soft-dirty bits and write-protects the pages. */
  | ({ readonly op: 'clear-refs' } & InProc)
  /** The process exits (`exit_mmap` while the other programs run). */
  | ({ readonly op: 'exit' } & InProc)
  /**
   * A device load; with `pages`, one access of several pages from `page` on: the driver's copy
   * command when the binding has one (`Binding.readRange`), else the word `word` of each page in
   * turn.
   */
  | ({ readonly op: 'dev-read'; readonly device?: number; readonly pages?: number } & At)
  /** A device store; with `pages`, of `value` into every word of several pages (see `dev-read`). */
  | ({ readonly op: 'dev-write'; readonly value: number; readonly device?: number; readonly pages?: number } & At)
  /** A device atomic on the word. */
  | ({ readonly op: 'dev-atomic'; readonly device?: number } & At)
  /** The binding migrates the pages to device memory. */
  | ({ readonly op: 'migrate-to-device' } & PageRange & ThroughDevice)
  /** The binding migrates the pages back to system memory. */
  | ({ readonly op: 'migrate-to-ram' } & PageRange & ThroughDevice)
  /** The binding evicts its device memory. */
  | { readonly op: 'evict' }
  /** The last close of the device file: the binding's `unbind` (see the scenarios guide). */
  | { readonly op: 'unbind' }
  /** The binding makes the pages device-exclusive. */
  | ({ readonly op: 'make-exclusive' } & PageRange & ThroughDevice)
  /** The binding prefetches the pages into the device page table (for writing if `write`). */
  | ({ readonly op: 'prefetch'; readonly write: boolean } & PageRange & ThroughDevice)
  /** The driver's extra command `name` over the range (`Binding.command`). */
  | ({ readonly op: 'command'; readonly name: string } & PageRange)
  /** The kernel reclaims the page (swap-out or writeback). */
  | ({ readonly op: 'reclaim' } & At & InProc)
  /** The kernel compacts the page (migrates it to another pfn). */
  | ({ readonly op: 'compact' } & At & InProc)
  /** The OOM reaper unmaps the process's memory, with a non-blockable invalidation. */
  | ({ readonly op: 'oom-reap' } & InProc);

/** The name of an op. */
export type OpName = OpSpec['op'];

/** One concurrent program. */
export interface TaskSpec {
  /** Who runs the program: a CPU thread, the device, the driver or the kernel. */
  readonly kind: TaskKind;
  /** Name, for traces and reports. */
  readonly name?: string;
  /** The ops, run in order. */
  readonly ops: readonly OpSpec[];
}

/** A whole scenario. */
export interface Scenario {
  /** Kernel API profile. @defaultValue 'latest' */
  readonly profile?: ProfileName;
  /**
   * What-if changes to the profile (see `KernelProfile`), for bug classes that need a kernel
   * behaviour no released kernel has: `{ exclusiveRestoreOwner: 'caller' }` is a core that passes
   * the device's owner when a CPU touch revokes a device-exclusive entry (bug class S15).
   */
  readonly profileOverrides?: Partial<Omit<KernelProfile, 'name'>>;
  /** @defaultValue 4096 */
  readonly pageSize?: number;
  /** Words per page: a few are enough to check data when fuzzing. @defaultValue 4 */
  readonly wordsPerPage?: number;
  /**
   * Device memory that other users hold before the tasks start, as other contexts' buffers fill a
   * GPU's memory: `{ free: n }` leaves each device only `n` free pages, so migrations run out of
   * destinations; `{ every: k }` holds one page in every `k`, so no run of `k` free pages is left
   * (with `k` at most 512, no huge device page). A driver must cope with both: leave an entry in
   * system memory (`migrate_vma_pages` skips an entry with no destination) or fall back to base
   * pages. Devices without memory are unaffected. @defaultValue none held
   */
  readonly deviceMemory?: MemoryHold;
  /**
   * End the run as a program ends: once every task is done, the device accesses the driver failed
   * with `-EAGAIN` or `-EBUSY` are made once more (the oracle's `fault-stuck`), then each process
   * that has not exited does, children first, and the device files close (`do_exit` runs
   * `exit_mm`, then `exit_files`; kernel/exit.c), so what the driver leaks or leaves running shows
   * at its release. Generated scenarios set it. @defaultValue false
   */
  readonly exitAtEnd?: boolean;
  /** The process's mappings, mapped in order before the tasks start. */
  readonly regions: readonly RegionSpec[];
  /** The concurrent programs. */
  readonly tasks: readonly TaskSpec[];
}

const OPS_OF_KIND: Readonly<Record<TaskKind, readonly OpName[]>> = {
  cpu: ['read', 'write', 'munmap', 'mprotect', 'mremap', 'madvise', 'fork', 'clear-refs', 'exit', 'pin'],
  device: ['dev-read', 'dev-write', 'dev-atomic'],
  driver: ['migrate-to-device', 'migrate-to-ram', 'evict', 'make-exclusive', 'prefetch', 'unbind', 'command'],
  kernel: ['reclaim', 'compact', 'oom-reap'],
};

const KIND_OF_OP: ReadonlyMap<string, TaskKind> = new Map(
  (Object.keys(OPS_OF_KIND) as TaskKind[]).flatMap((k) => OPS_OF_KIND[k].map((op) => [op, k] as const)),
);

/** Which task kind runs an op. */
export function kindOfOp(op: OpName): TaskKind {
  const kind = KIND_OF_OP.get(op);
  if (kind === undefined) throw new HmmlabError('ERR_BAD_ARGUMENT', `scenario: unknown op "${op}"`);
  return kind;
}

function fail(where: string, msg: string): never {
  throw new HmmlabError('ERR_BAD_ARGUMENT', `scenario: ${where}: ${msg}`);
}

function badInt(v: unknown, min: number, max: number): boolean {
  return typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max;
}

function intMessage(name: string, v: unknown, min: number, max: number): string {
  return `${name} is ${JSON.stringify(v)}; expected an integer in [${min}, ${max}]`;
}

function checkInt(where: string, name: string, v: unknown, min: number, max: number): void {
  if (badInt(v, min, max)) fail(where, intMessage(name, v, min, max));
}

/** Where op `oi` of task `ti` is, for a message (made only when one is needed). */
function opAt(ti: number, oi: number, sub = ''): string {
  return `tasks[${ti}].ops[${oi}]${sub}`;
}

const PROTS: readonly string[] = ['none', 'r', 'rw'];
const ADVICES: readonly string[] = ['dontneed', 'free', 'nohugepage'];

const AT = ['region', 'page'] as const;
const RANGE = ['region', 'page', 'pages'] as const;

/**
 * The fields each op must have (its type's required ones): a scenario from JSON or a token that
 * lacks one is refused, instead of running an op with `undefined` in it (a store of nothing).
 */
const REQUIRED: Readonly<Record<OpName, readonly string[]>> = {
  read: AT,
  write: [...AT, 'value'],
  munmap: RANGE,
  mprotect: [...RANGE, 'prot'],
  mremap: ['region'],
  madvise: [...RANGE, 'advice'],
  pin: [...AT, 'write'],
  fork: [],
  'clear-refs': [],
  exit: [],
  'dev-read': AT,
  'dev-write': [...AT, 'value'],
  'dev-atomic': AT,
  'migrate-to-device': RANGE,
  'migrate-to-ram': RANGE,
  evict: [],
  unbind: [],
  'make-exclusive': RANGE,
  prefetch: [...RANGE, 'write'],
  command: [...RANGE, 'name'],
  reclaim: AT,
  compact: AT,
  'oom-reap': [],
};
const SHARES: readonly string[] = ['private', 'shared'];
const BACKINGS: readonly string[] = ['anon', 'file'];
const POPULATES: readonly string[] = ['none', 'read', 'write'];

function checkMemoryHold(m: MemoryHold): void {
  const keys = typeof m === 'object' && m !== null ? Object.keys(m) : [];
  if (keys.length !== 1 || !(keys[0] === 'free' || keys[0] === 'every')) {
    fail('deviceMemory', `expected { "free": n } or { "every": k }; got ${JSON.stringify(m)}`);
  }
  if ('free' in m) checkInt('deviceMemory', 'free', m.free, 0, 1 << 20);
  else checkInt('deviceMemory', 'every', m.every, 2, 1 << 20);
}

/** `deviceMemory` as a person reads it, for reports: `device memory: 3 free page(s) per device`. */
export function describeDeviceMemory(m: MemoryHold): string {
  return 'free' in m
    ? `device memory: other users hold all but ${m.free} page(s) of each device's memory`
    : `device memory: other users hold one page in every ${m.every} of each device's memory`;
}

/** What `exitAtEnd` adds to a run, as a person reads it, for reports. */
export const EXIT_AT_END_TEXT =
  'at the end: device accesses the driver failed with -EAGAIN or -EBUSY are made again, then every process that has not exited does (OOM-killed ones too), then the device files close';

/** Checks a scenario and throws an error naming the first bad field. */
export function validateScenario(s: Scenario): void {
  if (typeof s !== 'object' || s === null) fail('root', 'expected an object with regions and tasks');
  if (s.profile !== undefined && !PROFILE_NAMES.includes(s.profile)) {
    fail('profile', `"${String(s.profile)}" is not one of ${PROFILE_NAMES.join(', ')}`);
  }
  if (s.profileOverrides !== undefined) {
    if (typeof s.profileOverrides !== 'object' || s.profileOverrides === null || Array.isArray(s.profileOverrides)) {
      fail('profileOverrides', 'expected an object of profile fields, like { "exclusiveRestoreOwner": "caller" }');
    }
    try {
      kernelProfile(s.profile ?? 'latest', s.profileOverrides);
    } catch (e) {
      fail('profileOverrides', e instanceof Error ? e.message : String(e));
    }
  }
  if (s.deviceMemory !== undefined) checkMemoryHold(s.deviceMemory);
  // What the kernel model takes (kernel.ts): refused here, as the scenario's, not later as the model's.
  const ps = s.pageSize;
  if (ps !== undefined && !(Number.isInteger(ps) && ps >= 64 && (ps & (ps - 1)) === 0))
    fail('pageSize', `${JSON.stringify(ps)}; expected a power of two of at least 64`);
  const w = s.wordsPerPage;
  if (w !== undefined && !(Number.isInteger(w) && w >= 1 && (ps ?? 4096) % w === 0))
    fail('wordsPerPage', `${JSON.stringify(w)}; expected a positive integer dividing the page size, ${ps ?? 4096}`);
  if (s.exitAtEnd !== undefined && typeof s.exitAtEnd !== 'boolean')
    fail('exitAtEnd', `${JSON.stringify(s.exitAtEnd)}; expected true or false`);
  if (!Array.isArray(s.regions) || s.regions.length === 0) fail('regions', 'expected at least one region');
  if (!Array.isArray(s.tasks)) fail('tasks', 'expected an array');
  // Validated on every run of a campaign: the loops build no message, and no string, until one fails.
  for (let i = 0; i < s.regions.length; i++) {
    const r = s.regions[i] as RegionSpec;
    if (badInt(r.pages, 1, 1 << 20)) fail(`regions[${i}]`, intMessage('pages', r.pages, 1, 1 << 20));
    if (!PROTS.includes(r.prot)) fail(`regions[${i}]`, `prot "${String(r.prot)}"; expected none, r or rw`);
    if (!SHARES.includes(r.share)) fail(`regions[${i}]`, `share "${String(r.share)}"; expected private or shared`);
    if (!BACKINGS.includes(r.backing)) fail(`regions[${i}]`, `backing "${String(r.backing)}"; expected anon or file`);
    if (r.populate !== undefined && !POPULATES.includes(r.populate)) fail(`regions[${i}]`, `populate "${String(r.populate)}"`);
    if (r.thp !== undefined && typeof r.thp !== 'boolean') fail(`regions[${i}]`, `thp ${String(r.thp)}; expected true or false`);
    if (r.thp === true && (r.share !== 'private' || r.backing !== 'anon' || r.pages % 512 !== 0)) {
      fail(
        `regions[${i}]`,
        `thp needs a private anonymous region of a multiple of 512 pages; got ${r.pages} ${r.share} ${r.backing} pages`,
      );
    }
  }
  for (let ti = 0; ti < s.tasks.length; ti++) {
    const t = s.tasks[ti] as TaskSpec;
    if (!(t.kind in OPS_OF_KIND)) fail(`tasks[${ti}]`, `kind "${String(t.kind)}"; expected cpu, device, driver or kernel`);
    const ops: readonly OpSpec[] = t.ops;
    if (!Array.isArray(ops)) fail(`tasks[${ti}]`, 'ops must be an array');
    for (let oi = 0; oi < ops.length; oi++) checkOp(s, t, ops[oi] as OpSpec, ti, oi);
  }
}

/** Checks op `oi` of task `ti` of `s`. */
function checkOp(s: Scenario, t: TaskSpec, o: OpSpec, ti: number, oi: number): void {
  const kind = kindOfOp(o.op);
  if (kind !== t.kind) fail(opAt(ti, oi), `op "${o.op}" belongs in a ${kind} task, not a ${t.kind} task`);
  for (const f of REQUIRED[o.op]) {
    if ((o as unknown as Record<string, unknown>)[f] === undefined) fail(opAt(ti, oi), `op "${o.op}" needs ${f}`);
  }
  // A word index is taken modulo the words of a page (the runner's `va`): any integer ≥ 0 will do.
  const word = (o as { word?: unknown }).word;
  if (word !== undefined && badInt(word, 0, Number.MAX_SAFE_INTEGER)) fail(opAt(ti, oi), `word ${String(word)} must be an integer ≥ 0`);
  if (o.op === 'mprotect' && !PROTS.includes(o.prot)) fail(opAt(ti, oi), `prot "${String(o.prot)}"; expected none, r or rw`);
  if (o.op === 'madvise' && !ADVICES.includes(o.advice)) fail(opAt(ti, oi), `advice "${String(o.advice)}"; expected ${ADVICES.join(', ')}`);
  if ('region' in o) {
    if (badInt(o.region, 0, s.regions.length - 1)) fail(opAt(ti, oi), intMessage('region', o.region, 0, s.regions.length - 1));
    const pages = (s.regions[o.region] as RegionSpec).pages;
    if ('page' in o && badInt(o.page, 0, pages - 1)) fail(opAt(ti, oi), intMessage('page', o.page, 0, pages - 1));
    if ('pages' in o) {
      const max = pages - (o as PageRange).page;
      if (badInt(o.pages, 1, max)) fail(opAt(ti, oi), intMessage('pages', o.pages, 1, max));
    }
  }
  if ('through' in o && o.through !== undefined) {
    const th = o.through;
    if (badInt(th.region, 0, s.regions.length - 1))
      fail(opAt(ti, oi, '.through'), intMessage('region', th.region, 0, s.regions.length - 1));
    const max = (s.regions[th.region] as RegionSpec).pages - 1;
    if (badInt(th.page, 0, max)) fail(opAt(ti, oi, '.through'), intMessage('page', th.page, 0, max));
  }
  if ('write' in o && typeof o.write !== 'boolean') fail(opAt(ti, oi), `write ${String(o.write)} must be true or false`);
  if (kind === 'driver' && 'device' in o && o.device !== undefined && badInt(o.device, 0, 63))
    fail(opAt(ti, oi), intMessage('device', o.device, 0, 63));
  if (o.op === 'command' && (typeof o.name !== 'string' || o.name === ''))
    fail(opAt(ti, oi), `command name ${JSON.stringify(o.name)} must be a non-empty string`);
  if ('value' in o && (typeof o.value !== 'number' || !Number.isInteger(o.value)))
    fail(opAt(ti, oi), `value ${String(o.value)} must be an integer`);
}
