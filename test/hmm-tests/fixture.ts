/**
 * The scaffolding of tools/testing/selftests/mm/hmm-tests.c, for the port: the `hmm` and `hmm2`
 * fixtures and their variants, `struct hmm_buffer`, `hmm_open`, `hmm_dmirror_cmd` and
 * `hmm_buffer_free`. Each test is one kernel with 4 KiB pages and 4-byte words (1024 words per
 * page, `int *ptr` in C) running the C test's body as a task.
 */
import {
  type DecisionSource,
  firstRunnable,
  type HugePmdKind,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Mm,
  PROT_READ,
  PROT_WRITE,
  type ProfileName,
  type RunResult,
  type ThpMode,
} from '@hmmlab/core';
import { expect, it, type TestContext } from 'vitest';
import type { Dmirror } from '../../examples/dmirror/dmirror.js';
import driver from '../../examples/dmirror/driver.js';
import { HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS } from '../../examples/dmirror/uapi.js';

/** `HMM_BUFFER_SIZE`: 1024 pages of 4 KiB. */
export const HMM_BUFFER_SIZE = 1024 << 12;
/** `NTIMES`. */
export const NTIMES = 10;
/** `read_pmd_pagesize()` on x86-64. */
export const PMD_SIZE = 2 << 20;
/** `HMM_PRIVATE_DEVICE_ONE` … `HMM_COHERENCE_DEVICE_TWO`. */
const HMM_COHERENCE_DEVICE_ONE = 2;

/** `FIXTURE_VARIANT(hmm)`. */
export interface HmmVariant {
  readonly name: string;
  readonly deviceNumber: number;
}

/** `FIXTURE_VARIANT(hmm2)`. */
export interface Hmm2Variant {
  readonly name: string;
  readonly deviceNumber0: number;
  readonly deviceNumber1: number;
}

/** `FIXTURE_VARIANT_ADD(hmm, …)`: the private device, and the coherent one. */
export const HMM_VARIANTS: readonly HmmVariant[] = [
  { name: 'hmm_device_private', deviceNumber: 0 },
  { name: 'hmm_device_coherent', deviceNumber: 2 },
];

/** `FIXTURE_VARIANT_ADD(hmm2, …)`. */
export const HMM2_VARIANTS: readonly Hmm2Variant[] = [
  { name: 'hmm2_device_private', deviceNumber0: 0, deviceNumber1: 1 },
  { name: 'hmm2_device_coherent', deviceNumber0: 2, deviceNumber1: 3 },
];

/** `hmm_is_coherent_type`. */
export function hmmIsCoherentType(devNum: number): boolean {
  return devNum >= HMM_COHERENCE_DEVICE_ONE;
}

/** `struct hmm_buffer`: `ptr` is the address in the test process, `mirror` the user buffer. */
export interface HmmBuffer {
  ptr: number;
  mirror: Int32Array | Uint8Array;
  size: number;
  cpages: number;
  faults: number;
}

/** What a test body gets: the kernel, the test process and its open device files. */
export interface HmmTest {
  readonly k: Kernel;
  /** The test process (the C test's `current->mm`). */
  readonly mm: Mm;
  /** `self->fd` (hmm) or `self->fd0` (hmm2). */
  readonly fd: Dmirror;
  /** `self->fd1` (hmm2 only). */
  readonly fd1: Dmirror;
  readonly pageSize: number;
  readonly pageShift: number;
  /** Words (`int`) per page. */
  readonly wpp: number;
  /** `hmm_open(unit)` in process `mm` (the test process unless given). */
  hmmOpen(unit: number, mm?: Mm): Promise<Dmirror>;
}

/** Options of {@link runHmm}. */
export interface RunHmmOptions {
  readonly profile?: ProfileName;
  readonly decisions?: DecisionSource;
  /** Transparent huge pages (`/sys/kernel/mm/transparent_hugepage/enabled`). @defaultValue 'madvise' */
  readonly thp?: ThpMode;
  /** Huge pages in the hugetlb pool (`vm.nr_hugepages`). @defaultValue 0 */
  readonly hugePages?: number;
}

/** A run of one test: the scheduler's result, and the tasks (processes) a signal killed. */
export interface HmmRun extends RunResult {
  readonly signaled: readonly string[];
}

/**
 * Runs one test: `FIXTURE_SETUP` opens `devices` in a fresh process, `body` runs as a CPU task,
 * `FIXTURE_TEARDOWN` closes them. The test passes when the run is `done` and no task died of a
 * signal (a SIGSEGV or SIGBUS kills a C test process).
 */
export async function runHmm(
  devices: readonly number[],
  body: (t: HmmTest) => Promise<void>,
  options: RunHmmOptions = {},
): Promise<HmmRun> {
  const k = new Kernel({
    pageSize: 4096,
    profile: options.profile ?? 'latest',
    trace: 'none',
    thp: options.thp ?? 'madvise',
    hugePages: options.hugePages ?? 0,
  });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  k.spawn('hmm-tests', 'cpu', async () => {
    const fds: Dmirror[] = [];
    for (const d of devices) fds.push(await instance.bind(mm, { device: d }));
    const t: HmmTest = {
      k,
      mm,
      fd: fds[0] as Dmirror,
      fd1: (fds[1] ?? fds[0]) as Dmirror,
      pageSize: k.pageSize,
      pageShift: Math.log2(k.pageSize),
      wpp: k.wordsPerPage,
      hmmOpen: (unit, m = mm) => instance.bind(m, { device: unit }),
    };
    await body(t);
    for (const fd of fds) await fd.unbind();
  });
  const run = await k.run(options.decisions ?? firstRunnable);
  const signaled = k.sched
    .allTasks()
    .filter((task) => task.outcome === 'signal')
    .map((task) => `${task.name}: ${task.error instanceof Error ? task.error.message : String(task.error)}`);
  return { ...run, signaled };
}

/** `malloc(sizeof(*buffer))` + `mmap`: a private anonymous mapping of `size` bytes and a mirror of `mirrorBytes`. */
export async function hmmBufferMap(
  t: HmmTest,
  size: number,
  prot = PROT_READ | PROT_WRITE,
  flags = MAP_PRIVATE | MAP_ANONYMOUS,
  mirrorBytes = size,
): Promise<HmmBuffer> {
  const ptr = await t.mm.mmap(0, size, prot, flags);
  expect(ptr, 'mmap').toBeGreaterThan(0);
  return { ptr, mirror: new Int32Array(mirrorBytes / 4), size, cpages: 0, faults: 0 };
}

/** `hmm_dmirror_cmd`: on success copies `cpages` and `faults` into the buffer; returns 0 or `-errno`. */
export async function hmmDmirrorCmd(fd: Dmirror, request: number, buffer: HmmBuffer, npages: number): Promise<number> {
  const r = await fd.cmd(request, { addr: buffer.ptr, npages, ptr: buffer.mirror });
  if (r.ret !== 0) return r.ret;
  buffer.cpages = r.cpages;
  buffer.faults = r.faults;
  return 0;
}

/** `hmm_migrate_sys_to_dev`. */
export function hmmMigrateSysToDev(fd: Dmirror, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages);
}

/** `hmm_migrate_dev_to_sys`. */
export function hmmMigrateDevToSys(fd: Dmirror, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buffer, npages);
}

/** `hmm_buffer_free`: unmaps the buffer (in process `mm`, the test process unless given). */
export async function hmmBufferFree(t: HmmTest, buffer: HmmBuffer, mm: Mm = t.mm): Promise<void> {
  if (buffer.ptr !== 0) expect(await mm.munmap(buffer.ptr, buffer.size)).toBe(0);
  buffer.ptr = 0;
}

/** `for (i = 0; i < n; ++i) ptr[i] = f(i)` on CPU memory at `va`. */
/**
 * The word pattern `ptr[i] = start + step * i` of the C loops (`i`, `-i`, `i + c`): callable like
 * any pattern, and {@link cpuFill}, {@link fill} and {@link expectWords} run it without a call per
 * word (a loop over many different closures is megamorphic in V8, and costs most of a fill).
 */
export interface Seq {
  (i: number): number;
  readonly start: number;
  readonly step: number;
}

/** `start + step * i`: `seq()` is `i`, `seq(c)` is `i + c`, `seq(0, -1)` is `-i`. */
export function seq(start = 0, step = 1): Seq {
  return Object.assign((i: number) => start + step * i, { start, step });
}

function isSeq(f: (i: number) => number): f is Seq {
  return typeof (f as Partial<Seq>).step === 'number';
}

/** `for (i = 0; i < n; ++i) ptr[i] = f(i)`: CPU stores of `n` words at `va`. */
export async function cpuFill(mm: Mm, va: number, n: number, f: (i: number) => number): Promise<void> {
  // The words are staged in a buffer used again by later fills (a fresh one of megabytes costs
  // its first touch of every page); tasks filling at once each take a buffer of their own.
  let buf = fillBuffers.pop();
  if (buf === undefined || buf.length < n) buf = new Int32Array(n);
  const v = buf.subarray(0, n);
  fill(v, n, f);
  try {
    await mm.writeRange(va, v);
  } finally {
    fillBuffers.push(buf);
  }
}

/** The staging buffers of {@link cpuFill} not in use. */
const fillBuffers: Int32Array[] = [];

/** `for (i = 0; i < n; ++i) ptr[i] = f(i)` on the mirror buffer. */
export function fill(buf: Int32Array | Uint8Array, n: number, f: (i: number) => number): void {
  if (!isSeq(f)) {
    for (let i = 0; i < n; i++) buf[i] = f(i);
    return;
  }
  // One loop per kind of array, so that each loop's stores are of one kind (the port's buffers
  // are hundreds of thousands of words; a loop over both kinds is twice as slow).
  if (buf instanceof Int32Array) fillInt32(buf, n, f.start, f.step);
  else fillUint8(buf, n, f.start, f.step);
}

/**
 * `step * j` for every `j` below the length, per step: the words of `seq(start, step)` are a slice
 * of it when `start` is a multiple of `step` (the port's patterns `i`, `i + c` and `-i`). A fill is
 * then one block copy and a check one byte comparison, as the C loops cost next to nothing against
 * the model; the port fills and checks about 250M words each.
 */
const seqTables = new Map<number, Int32Array>();

/** The slice of the table of `step` holding `n` words of `seq(start, step)`, or null. */
function seqSlice(n: number, start: number, step: number): Int32Array | null {
  if (step === 0 || !Number.isInteger(step) || start % step !== 0 || start / step < 0) return null;
  const from = start / step;
  let t = seqTables.get(step);
  if (t === undefined || t.length < from + n) {
    const len = Math.max(from + n, 2 * (t?.length ?? 0));
    if (Math.abs(step) * len > 2 ** 31) return null;
    t = new Int32Array(len);
    for (let j = 0; j < len; j++) t[j] = step * j;
    seqTables.set(step, t);
  }
  return t.subarray(from, from + n);
}

function fillInt32(buf: Int32Array, n: number, start: number, step: number): void {
  const words = seqSlice(n, start, step);
  if (words !== null) {
    buf.set(words);
    return;
  }
  for (let i = 0; i < n; i++) buf[i] = start + step * i;
}

function fillUint8(buf: Uint8Array, n: number, start: number, step: number): void {
  for (let i = 0; i < n; i++) buf[i] = start + step * i;
}

/**
 * `for (i = 0; i < n; ++i) ASSERT_EQ(words[i], f(i))`: every word is compared; the first
 * mismatch fails the test with its index.
 */
export function expectWords(words: ArrayLike<number>, n: number, f: (i: number) => number, what: string): void {
  expect(words.length, `${what}: length`).toBeGreaterThanOrEqual(n);
  const bad = isSeq(f)
    ? words instanceof Int32Array
      ? firstOffInt32(words, n, f.start, f.step)
      : firstOff(words, n, f)
    : firstOff(words, n, f);
  if (bad >= 0) expect(words[bad], `${what}[${bad}]`).toBe(f(bad));
}

/** The first index below `n` where `words` differs from `start + step * i` (-1: none). */
function firstOffInt32(words: Int32Array, n: number, start: number, step: number): number {
  const want = seqSlice(n, start, step);
  if (want !== null && Buffer.from(words.buffer, words.byteOffset, n * 4).equals(Buffer.from(want.buffer, want.byteOffset, n * 4)))
    return -1;
  for (let i = 0; i < n; i++) if (words[i] !== start + step * i) return i;
  return -1;
}

/** The first index below `n` where `words` differs from `f` (-1: none). */
function firstOff(words: ArrayLike<number>, n: number, f: (i: number) => number): number {
  for (let i = 0; i < n; i++) if (words[i] !== f(i)) return i;
  return -1;
}

/** `for (i…) ASSERT_EQ(ptr[i], f(i))` on CPU memory: CPU loads of `n` words at `va`. */
export async function expectCpuWords(mm: Mm, va: number, n: number, f: (i: number) => number, what: string): Promise<void> {
  expectWords(await mm.readRange(va, n), n, f, what);
}

/** Asserts the run ended `done` with no task killed by a signal. */
export async function expectDone(run: Promise<HmmRun>): Promise<HmmRun> {
  const r = await run;
  expect(r.status, r.message).toBe('done');
  expect(r.signaled, 'tasks killed by a signal').toEqual([]);
  return r;
}

/** `ALIGN(x, a)` for a power of two `a`. */
export function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `npages = ALIGN(HMM_BUFFER_SIZE, page_size) >> page_shift` and `size = npages << page_shift`. */
export function bufferPages(t: HmmTest): { npages: number; size: number } {
  const npages = align(HMM_BUFFER_SIZE, t.pageSize) / t.pageSize;
  expect(npages).not.toBe(0);
  return { npages, size: npages * t.pageSize };
}

/**
 * `TEST_F(fixture, name)` run for each variant, as the kselftest harness does: one vitest test
 * titled `fixture.name [variant]` (and a note on how the port differs, if any).
 */
export function testF<V extends { readonly name: string }>(
  variants: readonly V[],
  name: string,
  fn: (variant: V, ctx: TestContext) => Promise<void>,
  note = '',
): void {
  for (const v of variants) it(`${name} [${v.name}]${note === '' ? '' : ` (${note})`}`, (ctx) => fn(v, ctx));
}

/** What maps the PMD of `va` in `mm`: `thp`, `zero` (the huge zero page), `hugetlb`, or undefined (a page table). */
export function pmdMapping(mm: Mm, va: number): HugePmdKind | undefined {
  return mm.hugePmds.get(Math.floor(va / PMD_SIZE));
}
