/**
 * The scenario runner: builds a kernel, probes the driver, maps the layout, binds the driver to
 * the process, starts every program as a task and runs them to the end under a decision source.
 * Driver errors (a throw, a hang, a leaked lock) end the run with a report; they never hang the
 * runner.
 */
import {
  checkOptionNames,
  compactPage,
  type DecisionSource,
  EAGAIN,
  EBUSY,
  EFAULT,
  EINVAL,
  ENODEV,
  HmmlabError,
  HPAGE_PMD_NR,
  Kernel,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  type Mm,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  oomReap,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type ProfileName,
  PTE_DEVICE_EXCLUSIVE,
  PTE_PRESENT,
  pinUserPage,
  pteKindOf,
  ptePfn,
  type RunResult,
  SignalError,
  type Trace,
  type TraceRecordMode,
  unpinUserPage,
  type Vma,
  type WaitQueue,
} from '@hmmlab/core';
import type { Device } from './device.js';
import type { AccessKind, AccessResult, DeviceVm } from './device-vm.js';
import type { Binding, DriverDefinition, DriverInstance } from './driver.js';
import { HMM_RANGE_DEFAULT_TIMEOUT } from './helpers/range-fault.js';
import { type OpSpec, type Prot, type Scenario, validateScenario } from './scenario.js';

/** Everything a run builds; observers see it fill in. */
export interface World {
  /** The kernel of the run. */
  readonly kernel: Kernel;
  /** The scenario being run. */
  readonly scenario: Scenario;
  /** Processes: 0 is the main one; each fork appends its child. */
  readonly processes: Mm[];
  /** Processes that exited or were OOM-killed: their programs stop. */
  readonly dead: Set<Mm>;
  /** Processes whose exit dropped their reference on the address space (`exit_mm`). */
  readonly exited?: Set<Mm>;
  /**
   * The CPU ops of each process's programs now in flight (its threads in a system call or fault),
   * and where its exit waits for them (`exit_group`: exit_mmap runs once every other thread left).
   * Kept only when a program of the scenario has an `exit` op (the exit at the end comes after
   * every program ended).
   */
  readonly threads?:
    | Map<
        Mm,
        {
          /** Ops in flight. */
          inFlight: number;
          /** Where an exit waits for `inFlight` to drop to 0, made by the first exit that waits. */
          idle: WaitQueue | null;
        }
      >
    | undefined;
  /** The driver, once probed. */
  driver: DriverInstance | null;
  /** The driver's binding to the main process, once bound. */
  binding: Binding | null;
  /** The driver's devices. */
  devices: readonly Device[];
  /** The main process's bindings of other devices (by device index), opened by driver actions that name one. */
  readonly peers?: Map<number, Binding>;
  /** Current base address of each region (mremap moves them). */
  readonly regionBase: number[];
  /**
   * Where the binding is in its life: `open`; `closing` (closed by the process, the driver's calls
   * in flight finishing); `releasing` (its `unbind` runs); `closed` (it returned). @defaultValue 'open'
   */
  bindingState?: 'open' | 'closing' | 'releasing' | 'closed';
  /** The bindings of other devices (`peers`) whose `unbind` runs now. */
  readonly releasingPeers?: Set<Binding>;
  /**
   * Device accesses of the programs that the driver failed with `-EBUSY` or `-EAGAIN` ("try
   * again"), the first four of distinct address spaces, pages and kinds: a run that ends as a
   * program ends makes them again once its programs are done (the oracle's `fault-stuck`).
   */
  failedAccesses?: FailedAccess[] | undefined;
}

/** A device access the driver failed with a "try again" errno ({@link World.failedAccesses}). */
export interface FailedAccess {
  /** The device address space that made the access. */
  readonly vm: DeviceVm;
  /** The op that made it: a `dev-read`, `dev-write` or `dev-atomic`. */
  readonly op: OpSpec;
  /** The kind of access. */
  readonly kind: AccessKind;
  /** The address. */
  readonly va: number;
  /** The errno the access failed with. */
  readonly errno: number;
  /** The step it failed at. */
  readonly step: number;
}

/** At most this many failed accesses are tried again at rest: a stuck fault path fails them all alike. */
const RETRIES_AT_REST = 4;

/** Something that watches a run (the oracle): attached before the driver is probed. */
export interface Observer {
  /** Called once with the world, before the driver is probed. */
  attach(world: World): void;
}

/** Outcome of one op. */
export interface OpOutcome {
  /** Index of the task (program) in the scenario. */
  readonly task: number;
  /** Index of the op in its program. */
  readonly index: number;
  /** The op's name. */
  readonly op: OpSpec['op'];
  /** 0 or a negative errno for syscalls and actions; the value for reads. */
  readonly ret: number | null;
  /** `ok`, `signal` (SIGSEGV, SIGBUS, device fault), `unsupported` (the driver lacks the action), `skipped` (dead process). */
  readonly status: 'ok' | 'signal' | 'unsupported' | 'skipped';
}

/** Options of {@link runScenario}. */
export interface ScenarioRunOptions {
  /** The scheduling decisions: where more than one task can run, which one does. */
  decisions: DecisionSource;
  /** Watchers of the run (the oracle), attached before the driver is probed. */
  observers?: readonly Observer[];
  /** @defaultValue 200_000 */
  maxSteps?: number;
  /** How much trace to keep. @defaultValue 'ring' */
  trace?: TraceRecordMode | Trace;
}

/**
 * Every field of {@link ScenarioRunOptions} (the compiler checks it): {@link runScenario} refuses
 * any other, and a call that passes these options on (`checkScenario`) takes them too.
 */
export const SCENARIO_RUN_FIELDS: Readonly<Record<keyof ScenarioRunOptions, true>> = {
  decisions: true,
  observers: true,
  maxSteps: true,
  trace: true,
};

/** What {@link runScenario} returns. */
export interface ScenarioResult {
  /** How the scheduler's run ended. */
  readonly run: RunResult;
  /** Everything the run built. */
  readonly world: World;
  /** The outcome of every op that ran. */
  readonly outcomes: readonly OpOutcome[];
}

function protOf(p: Prot): number {
  return p === 'none' ? PROT_NONE : p === 'r' ? PROT_READ : PROT_READ | PROT_WRITE;
}

/** Initial word 0 of page `page` of region `region` when the layout populates it by writing. */
export function initialValue(region: number, page: number): number {
  return 1_000_000 * (region + 1) + page;
}

/**
 * A THP region: `len` bytes at a PMD-aligned address (a larger mapping trimmed to it, as the
 * kernel's hmm-tests align their buffers), advised `MADV_HUGEPAGE`.
 */
async function mapThpRegion(mm: Mm, len: number, prot: number): Promise<number> {
  const pmd = mm.kernel.pageSize * HPAGE_PMD_NR;
  const raw = await mm.mmap(0, len + pmd, prot, MAP_PRIVATE | MAP_ANONYMOUS);
  if (raw < 0) return raw;
  const addr = Math.ceil(raw / pmd) * pmd;
  if (addr > raw) await mm.munmap(raw, addr - raw);
  if (addr + len < raw + len + pmd) await mm.munmap(addr + len, raw + pmd - addr);
  await mm.madvise(addr, len, MADV_HUGEPAGE);
  return addr;
}

/**
 * Throws unless the devices a probe returned have names of their own: the trace names a device by
 * its name, and the oracle tells devices apart by it. One device listed twice is one device.
 * @param devices - what the driver's probe returned in `devices`
 */
export function checkProbedDevices(devices: readonly Device[]): void {
  const byName = new Map<string, Device>();
  for (const d of devices) {
    const other = byName.get(d.name);
    if (other !== undefined && other !== d) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `probe returned two devices named "${d.name}": the trace and the oracle tell devices apart by name; give each its own (new Device(kernel, { name }))`,
      );
    }
    byName.set(d.name, d);
  }
}

/**
 * The main binding mirrors the process in no more device address spaces than the driver declares
 * (`DriverDefinition.vmsPerBinding`): the fuzzer's device work uses that many, and any more would
 * never see a device access.
 */
/** A binding the driver's definition does not describe: a definition to fix, which a load reports before any run. */
export class BindingMismatchError extends HmmlabError {
  constructor(message: string) {
    super('ERR_BAD_ARGUMENT', message);
    this.name = 'BindingMismatchError';
  }
}

function checkBindingVms(driver: DriverDefinition, binding: Binding): void {
  const declared = driver.vmsPerBinding ?? 1;
  if (binding.vms.length <= declared) return;
  throw new BindingMismatchError(
    `bind made ${binding.vms.length} device address spaces (${binding.vms.map((vm) => vm.device.name).join(', ')}), and driver "${driver.name}" declares vmsPerBinding ${declared}: device work would reach only the first ${declared === 1 ? 'one' : declared}; declare defineDriver({ vmsPerBinding: ${binding.vms.length} })`,
  );
}

/**
 * A binding's address spaces must be on devices the probe returned: the oracle watches only
 * those, and would judge the driver on half of what it did (its translations, its flushes).
 */
function checkBindingDevices(binding: Binding, devices: readonly Device[]): void {
  for (const vm of binding.vms) {
    if (devices.includes(vm.device)) continue;
    throw new HmmlabError(
      'ERR_STATE',
      `bind made an address space on device ${vm.device.name}, which the driver's probe did not return in devices (it returned ${
        devices.length === 0 ? 'none' : devices.map((d) => d.name).join(', ')
      }); the oracle watches only those: add ${vm.device.name} to the devices probe returns`,
    );
  }
}

/** Runs `scenario` with `driver`. */
export async function runScenario(driver: DriverDefinition, scenario: Scenario, options: ScenarioRunOptions): Promise<ScenarioResult> {
  checkOptionNames('runScenario', options, SCENARIO_RUN_FIELDS);
  validateScenario(scenario);
  const profile: ProfileName = scenario.profile ?? 'latest';
  const kernel = new Kernel({
    profile,
    pageSize: scenario.pageSize ?? 4096,
    wordsPerPage: scenario.wordsPerPage ?? 4,
    trace: options.trace ?? 'ring',
    ...(driver.profileOverrides !== undefined || scenario.profileOverrides !== undefined
      ? { profileOverrides: { ...driver.profileOverrides, ...scenario.profileOverrides } }
      : {}),
  });
  // Every world has the same properties in the same order, set or not: one hidden class for all
  // of them, so that the harness's and the oracle's code that reads a world meets one shape
  // whatever the scenario and the driver (a property added to some worlds only made that code
  // polymorphic, and optimized again each time a new shape reached it).
  const world: World = {
    kernel,
    scenario,
    processes: [kernel.createMm()],
    dead: new Set(),
    exited: new Set(),
    threads: scenario.tasks.some((t) => t.ops.some((o) => o.op === 'exit')) ? new Map() : undefined,
    driver: null,
    binding: null,
    devices: [],
    peers: new Map(),
    regionBase: scenario.regions.map(() => 0),
    bindingState: 'open',
    releasingPeers: new Set(),
    failedAccesses: undefined,
  };
  const life = new Holds(kernel);
  for (const o of options.observers ?? []) o.attach(world);
  const instance = await driver.probe(kernel);
  world.driver = instance;
  world.devices = instance.devices;
  checkProbedDevices(instance.devices);
  if (scenario.deviceMemory !== undefined) for (const d of world.devices) d.holdMemory(scenario.deviceMemory);
  const outcomes: OpOutcome[] = [];

  kernel.spawn('init', 'kernel', async () => {
    const mm = world.processes[0] as Mm;
    for (let i = 0; i < scenario.regions.length; i++) {
      const r = scenario.regions[i] as (typeof scenario.regions)[number];
      const len = r.pages * kernel.pageSize;
      const flags = (r.share === 'shared' ? MAP_SHARED : MAP_PRIVATE) | (r.backing === 'anon' ? MAP_ANONYMOUS : 0);
      const file = r.backing === 'file' ? kernel.createFile(`region${i}`, { size: len }) : null;
      const addr = r.thp === true ? await mapThpRegion(mm, len, protOf(r.prot)) : await mm.mmap(0, len, protOf(r.prot), flags, file, 0);
      world.regionBase[i] = addr;
      if (r.populate === 'read' || r.populate === 'write') {
        const write = r.populate === 'write';
        for (let p = 0; p < r.pages; p++) {
          const va = addr + p * kernel.pageSize;
          const value = write ? initialValue(i, p) : 0;
          // Done at once when nothing can interleave, with the same steps and events: a THP
          // region is 512 pages, and each page's write was a promise and a microtask turn.
          if (mm.accessNow(va, write, value) !== undefined) continue;
          if (write) await mm.write(va, value);
          else await mm.read(va);
        }
      }
    }
    const binding = await instance.bind(mm);
    if (typeof binding !== 'object' || binding === null || !Array.isArray((binding as { vms?: unknown }).vms)) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `driver "${driver.name}": bind(mm) must return a binding with vms, the device address spaces it made (an empty array if none); got ${
          typeof binding === 'object' && binding !== null ? `an object without vms` : String(binding)
        }`,
      );
    }
    checkBindingDevices(binding, world.devices);
    checkBindingVms(driver, binding);
    world.binding = binding;
    // The end of the run is spawned by the last task to finish, so that it takes no scheduling
    // decision while the programs run.
    const left = { tasks: scenario.tasks.length };
    scenario.tasks.forEach((t, ti) => {
      kernel.spawn(t.name ?? `${t.kind}${ti}`, t.kind, async () => {
        try {
          for (let oi = 0; oi < t.ops.length; oi++) {
            const op = t.ops[oi] as OpSpec;
            outcomes.push({ task: ti, index: oi, op: op.op, ...(await runOp(world, life, op)) });
          }
        } finally {
          taskEnded(world, life, left);
        }
      });
    });
    if (scenario.tasks.length === 0) {
      left.tasks = 1;
      taskEnded(world, life, left);
    }
  });
  const run = await kernel.run(options.decisions, { maxSteps: options.maxSteps ?? 200_000 });
  return { run, world, outcomes };
}

/** A program ended: the last one to end spawns the end of the run, when the scenario asks for it. */
function taskEnded(world: World, life: Holds, left: { tasks: number }): void {
  if (--left.tasks !== 0 || world.scenario.exitAtEnd !== true) return;
  if (world.failedAccesses === undefined) world.kernel.spawn('exit at end', 'cpu', () => exitAtEnd(world, life));
  else
    world.kernel.spawn('device retry at rest', 'device', async () => {
      await retryAtRest(world, life);
      world.kernel.spawn('exit at end', 'cpu', () => exitAtEnd(world, life));
    });
}

/** Notes a device access of a program that the driver failed with "try again" ({@link World.failedAccesses}). */
function noteFailedAccess(world: World, vm: DeviceVm, op: DeviceAccessOp, va: number, errno: number): void {
  if (errno !== -EBUSY && errno !== -EAGAIN) return;
  const kind: AccessKind = op.op === 'dev-read' ? 'read' : op.op === 'dev-write' ? 'write' : 'atomic';
  const k = world.kernel;
  const list = (world.failedAccesses ??= []);
  if (list.length >= RETRIES_AT_REST) return;
  const vpn = Math.floor(va / k.pageSize);
  if (list.some((f) => f.vm === vm && f.kind === kind && Math.floor(f.va / k.pageSize) === vpn)) return;
  list.push({ vm, op, kind, va, errno, step: k.sched.step });
}

/**
 * True where `make_device_exclusive` can convert the page at `va`: private anonymous memory, not
 * hugetlb (mm/rmap.c, `page_make_device_exclusive`, "anonymous non-hugetlb folios only"); on
 * 5.14–6.13 (`make_device_exclusive_range`, which refuses a tail page of a large folio:
 * `PageTail(page)`), only a small page mapped there now.
 */
function exclusiveConvertible(mm: Mm, vma: Vma, va: number): boolean {
  if (!vma.anonymous || vma.shared || vma.hugetlb) return false;
  if (mm.profile.exclusive !== 'range') return true;
  const e = mm.pte(va);
  const kind = pteKindOf(e);
  if (kind !== PTE_PRESENT && kind !== PTE_DEVICE_EXCLUSIVE) return false;
  const p = mm.kernel.pages.page(ptePfn(e));
  return p.head === null && !p.large;
}

/**
 * Once every program of a run that ends as a program ends is done, and before the exit, each
 * device access the driver failed with "try again" is made once more, after the driver's own work
 * had `HMM_RANGE_DEFAULT_TIMEOUT` of model time to finish (the bound its own waits use): nothing
 * else runs then, so a fault path that still says "try again" says it for ever (a count, flag or
 * state left set). Only accesses the process's memory allows are tried (a VMA with the access's
 * protection; for an atomic of a device that needs device-exclusive entries, private anonymous
 * memory, the only kind `make_device_exclusive` converts: mm/rmap.c, `page_make_device_exclusive`),
 * and only while the binding is open, the process alive and the device running. Each retry is a
 * `dev-retry` event pair, which the oracle's `fault-stuck` rule reads.
 */
async function retryAtRest(world: World, life: Holds): Promise<void> {
  const k = world.kernel;
  const mm = world.processes[0] as Mm;
  await k.sched.sleep(HMM_RANGE_DEFAULT_TIMEOUT, 'retry at rest');
  for (const f of world.failedAccesses ?? []) {
    if (world.bindingState !== 'open' || world.dead.has(mm) || f.vm.destroyed || f.vm.device.quiesced) return;
    const vma = f.vm.mm.lookupVma(f.va);
    if (vma === undefined || !(f.kind === 'read' ? vma.readable : vma.writable)) continue;
    if (f.kind === 'atomic' && f.vm.device.atomics === 'exclusive' && !exclusiveConvertible(f.vm.mm, vma, f.va)) continue;
    const ev = { type: 'dev-retry', dev: f.vm.device.name, vm: f.vm.id, va: f.va, kind: f.kind, errno: f.errno, failedAt: f.step } as const;
    if (k.trace.on) k.trace.emit({ ...ev, phase: 'begin', result: 0 });
    // Only device accesses are noted (noteFailedAccess).
    const op = f.op as DeviceAccessOp;
    const r =
      world.binding?.accessesAreSyscalls === true ? await life.hold(() => devAccess(f.vm, op, f.va)) : await devAccess(f.vm, op, f.va);
    if (k.trace.on) k.trace.emit({ ...ev, phase: 'end', result: r.ok ? 0 : r.errno });
  }
}

type Result = { ret: number | null; status: OpOutcome['status'] };

/**
 * The references the driver's own calls hold on the binding, as an open file's users hold it
 * (`fdget` in an ioctl): `unbind` runs only when the last one is gone, as `__fput` calls
 * `->release` only when the file's count drops to zero (fs/file_table.c, `fput`).
 */
class Holds {
  private count = 0;
  private readonly wq: WaitQueue;

  constructor(kernel: Kernel) {
    this.wq = kernel.waitQueue('binding file references');
  }

  /** Runs `f` holding a reference. */
  async hold<T>(f: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await f();
    } finally {
      if (--this.count === 0) this.wq.wakeUpAll();
    }
  }

  /** Sleeps until no call holds the binding. */
  drain(): Promise<void> {
    return this.wq.waitEvent(() => this.count === 0);
  }
}

const CLOSED: Result = { ret: -ENODEV, status: 'skipped' };

const increment = (x: number): number => x + 1;

/** An op of a device program that accesses memory. */
type DeviceAccessOp = Extract<OpSpec, { op: 'dev-read' | 'dev-write' | 'dev-atomic' }>;

/** The device access of a `dev-*` op at `a` (the closures that call it are made only where needed, not per access). */
function devAccess(vm: DeviceVm, op: DeviceAccessOp, a: number): Promise<AccessResult> {
  return op.op === 'dev-read' ? vm.tryRead(a) : op.op === 'dev-write' ? vm.tryWrite(a, op.value) : vm.tryAtomic(a, increment);
}

/**
 * `unbind`: the last close of the device file. New calls fail with -ENODEV; the calls in flight
 * return first (each holds the file, as `fdget` in an ioctl does); then the driver's `unbind`
 * runs, and what it leaves of its address spaces is freed. A device's own fault handling holds no
 * file: a GPU or NIC raises faults whether or not the file is closing, and its driver's teardown
 * must stop them or wait for the ones in flight itself (xe: the VM marked closed under `vm->lock`,
 * which `handle_pagefault` checks; mlx5: `mlx5r_deref_wait_odp_mkey` waits for the faults that
 * hold the mkey). A fault handler still at work after `unbind` returned uses freed address spaces.
 */
async function unbind(world: World, life: Holds, b: Binding & { unbind(): Promise<void> }): Promise<Result> {
  const tr = world.kernel.trace;
  world.bindingState = 'closing';
  if (tr.on) for (const vm of b.vms) tr.emit({ type: 'dev-vm', dev: vm.device.name, vm: vm.id, op: 'unbind-start', what: 'close' });
  await life.drain();
  world.bindingState = 'releasing';
  await b.unbind();
  if (tr.on) for (const vm of b.vms) tr.emit({ type: 'dev-vm', dev: vm.device.name, vm: vm.id, op: 'unbind-end', what: 'close' });
  for (const vm of b.vms) if (!vm.destroyed) vm.destroy('unbind returned');
  world.bindingState = 'closed';
  return OK(0);
}

/**
 * `Scenario.exitAtEnd`: the programs are done, so each process that has not exited does,
 * children first (the last `mmput` of an address space runs `exit_mmap`), then the files close.
 */
async function exitAtEnd(world: World, life: Holds): Promise<void> {
  for (let i = world.processes.length - 1; i >= 0; i--) {
    // An OOM-killed process exits too: the reaper left its address space to `exit_mmap`.
    const p = world.processes[i] as Mm;
    if (world.exited?.has(p) === true) continue;
    world.dead.add(p);
    world.exited?.add(p);
    await p.exit();
    exited(world, p);
  }
  await closeFiles(world, life);
}

/**
 * The process of `mm` has exited: when it is the main process, the device work of its address
 * spaces that waits on stopped queues ends (see {@link DeviceVm.processGone}).
 */
function exited(world: World, mm: Mm): void {
  if (mm !== world.processes[0]) return;
  for (const d of world.devices) {
    let waiting = false;
    for (const vm of d.vms) {
      if (vm.mm !== mm) continue;
      vm.processGone = true;
      waiting ||= d.quiesced;
    }
    if (waiting) d.queueWq.wakeUpAll();
  }
}

/**
 * The main process's last close of its device files (`exit_files`): the binding's `unbind`,
 * unless a program closed it already, then the bindings of the other devices it opened.
 */
async function closeFiles(world: World, life: Holds): Promise<void> {
  const b = world.binding;
  if (b?.unbind !== undefined && world.bindingState === 'open') await unbind(world, life, b as Binding & { unbind(): Promise<void> });
  // The calls in flight hold their files (`fdget`): the other devices' `release` waits for them too.
  if ((world.peers?.size ?? 0) > 0) await life.drain();
  for (const [device, peer] of world.peers ?? []) {
    world.peers?.delete(device);
    if (peer.unbind === undefined) continue;
    world.releasingPeers?.add(peer);
    await peer.unbind();
    world.releasingPeers?.delete(peer);
    for (const vm of peer.vms) if (!vm.destroyed) vm.destroy('unbind returned');
  }
}

/**
 * The madvise advice of an op. `nohugepage` changes no page table: it splits the VMAs at the
 * range's edges (mm/madvise.c, `madvise_update_vma`), so a driver range can outlive the VMA it
 * was made for without an invalidation, as `MADV_RANDOM` or `mlock` splits do.
 */
const ADVICE = { dontneed: MADV_DONTNEED, free: MADV_FREE, nohugepage: MADV_NOHUGEPAGE } as const;

const OK = (ret: number | null): Result => ({ ret, status: 'ok' });

function va(world: World, region: number, page: number, word = 0): number {
  const k = world.kernel;
  return (world.regionBase[region] as number) + page * k.pageSize + (word % k.wordsPerPage) * k.wordSize;
}

/** Steps a `pin` op holds its pin. */
const PIN_STEPS = 3;

/** Start and length of a CPU range op: `pages` pages, or from its page through another region's page. */
function span(world: World, op: Extract<OpSpec, { op: 'munmap' | 'mprotect' | 'madvise' }>): [number, number] {
  const ps = world.kernel.pageSize;
  const a = va(world, op.region, op.page);
  if (op.through === undefined) return [a, op.pages * ps];
  const b = va(world, op.through.region, op.through.page);
  const lo = Math.min(a, b);
  return [lo, Math.max(a, b) + ps - lo];
}

async function runOp(world: World, life: Holds, op: OpSpec): Promise<Result> {
  // A thread of the process in a system call or fault holds its own reference on the address
  // space (mm_users): the process's exit runs exit_mmap only once every other thread has left.
  if (world.threads === undefined) return doOp(world, life, op);
  const mm = world.processes['proc' in op && op.proc !== undefined ? op.proc : 0];
  if (mm === undefined || op.op === 'exit' || world.kernel.sched.current.kind !== 'cpu' || world.dead.has(mm)) return doOp(world, life, op);
  const thread = enterThread(world, mm);
  try {
    return await doOp(world, life, op);
  } finally {
    if (--thread.inFlight === 0) thread.idle?.wakeUpAll();
  }
}

async function doOp(world: World, life: Holds, op: OpSpec): Promise<Result> {
  const k = world.kernel;
  const ps = k.pageSize;
  const procIdx = 'proc' in op && op.proc !== undefined ? op.proc : 0;
  const mm = world.processes[procIdx];
  const needsProc = k.sched.current.kind === 'cpu' || op.op === 'reclaim' || op.op === 'compact' || op.op === 'oom-reap';
  // Reclaim and compaction find pages through the page tables, not the process: they race with an
  // exit until exit_mmap has torn its page tables down.
  const pageWork = op.op === 'reclaim' || op.op === 'compact';
  if (needsProc && (mm === undefined || (pageWork ? mm.dead : world.dead.has(mm)))) return { ret: null, status: 'skipped' };
  // Device work and driver actions belong to the main process: once it is killed, they stop.
  if (!needsProc && world.dead.has(world.processes[0] as Mm)) return { ret: null, status: 'skipped' };
  const m = mm as Mm;
  try {
    switch (op.op) {
      case 'read':
        return OK(await m.read(va(world, op.region, op.page, op.word)));
      case 'write':
        await m.write(va(world, op.region, op.page, op.word), op.value);
        return OK(0);
      case 'munmap': {
        const [start, len] = span(world, op);
        return OK(await m.munmap(start, len));
      }
      case 'mprotect': {
        const [start, len] = span(world, op);
        return OK(await m.mprotect(start, len, protOf(op.prot)));
      }
      case 'mremap': {
        const len = (world.scenario.regions[op.region] as { pages: number }).pages * ps;
        const old = world.regionBase[op.region] as number;
        // A same-size MREMAP_MAYMOVE stays where it is (mm/mremap.c, `do_mremap`): reserve a
        // fresh place and move the region onto it with MREMAP_FIXED (`mremap_to`), as a program
        // relocating a buffer does, so the region's pages reach a VMA made after the driver bound.
        const to = await m.mmap(0, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (to < 0) return OK(to);
        const r = await m.mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
        if (r < 0) await m.munmap(to, len);
        // Ops address the main process's regions: follow the move there.
        if (r > 0 && procIdx === 0) world.regionBase[op.region] = r;
        return OK(Math.min(r, 0));
      }
      case 'madvise': {
        const [start, len] = span(world, op);
        return OK(await m.madvise(start, len, ADVICE[op.advice]));
      }
      case 'pin': {
        const page = await pinUserPage(m, va(world, op.region, op.page), op.write);
        if (page === null) return OK(-EFAULT);
        // The DMA the pin is for: a few steps in which the page must stay put.
        for (let i = 0; i < PIN_STEPS; i++) await k.sched.yield();
        unpinUserPage(m, page);
        return OK(0);
      }
      case 'fork': {
        const main = world.processes[0] as Mm;
        if (world.dead.has(main)) return { ret: null, status: 'skipped' };
        world.processes.push(await main.fork());
        return OK(world.processes.length - 1);
      }
      case 'clear-refs':
        return OK(await m.clearRefs(4));
      case 'exit': {
        world.dead.add(m);
        await threadsLeft(world, m);
        world.exited?.add(m);
        await m.exit();
        exited(world, m);
        // do_exit closes the files after the address space (kernel/exit.c: exit_mm, then
        // exit_files): the main process's exit is the device file's last close unless a child
        // forked from it still holds the file.
        const holders = world.processes.filter((p) => !world.dead.has(p));
        if (procIdx === 0 && holders.length === 0) await closeFiles(world, life);
        return OK(0);
      }
      case 'dev-read':
      case 'dev-write':
      case 'dev-atomic': {
        const b = world.binding;
        const vm = b?.vms[op.device ?? 0];
        if (vm === undefined) return { ret: null, status: 'unsupported' };
        // No new device work on a closed binding; a syscall-driven device gets none while it closes.
        if (world.bindingState === 'closed' || (b?.accessesAreSyscalls === true && world.bindingState !== 'open')) return CLOSED;
        if (op.op !== 'dev-atomic' && op.pages !== undefined) return await rangeAccess(world, life, b as Binding, vm, op, op.pages);
        const a = va(world, op.region, op.page, op.word);
        const r = b?.accessesAreSyscalls === true ? await life.hold(() => devAccess(vm, op, a)) : await devAccess(vm, op, a);
        if (!r.ok) noteFailedAccess(world, vm, op, a, r.errno);
        return r.ok ? OK(r.value) : { ret: r.errno, status: 'signal' };
      }
      case 'migrate-to-device':
      case 'migrate-to-ram':
      case 'make-exclusive':
      case 'prefetch': {
        const device = op.device ?? 0;
        const b = device === 0 ? world.binding : await peerBinding(world, device);
        const f =
          op.op === 'migrate-to-device'
            ? b?.migrateToDevice
            : op.op === 'migrate-to-ram'
              ? b?.migrateToRam
              : op.op === 'make-exclusive'
                ? b?.makeExclusive
                : b?.prefetch;
        if (b === null || f === undefined) return { ret: null, status: 'unsupported' };
        if (device === 0 && world.bindingState !== 'open') return OK(-ENODEV);
        const start = va(world, op.region, op.page);
        const end = start + op.pages * ps;
        return OK(
          await life.hold(() =>
            op.op === 'prefetch'
              ? (f as NonNullable<Binding['prefetch']>).call(b, start, end, op.write)
              : (f as (s: number, e: number) => Promise<number>).call(b, start, end),
          ),
        );
      }
      case 'command': {
        const b = world.binding;
        if (b === null || b.command === undefined) return { ret: null, status: 'unsupported' };
        if (world.bindingState !== 'open') return OK(-ENODEV);
        const command = b.command;
        const start = va(world, op.region, op.page);
        const end = start + op.pages * ps;
        return OK(await life.hold(() => command.call(b, op.name, start, end)));
      }
      case 'evict': {
        const b = world.binding;
        if (b === null || b.evict === undefined) return { ret: null, status: 'unsupported' };
        if (world.bindingState !== 'open') return OK(-ENODEV);
        const evict = b.evict;
        return OK(await life.hold(() => evict.call(b)));
      }
      case 'unbind': {
        const b = world.binding;
        if (b === null || b.unbind === undefined) return { ret: null, status: 'unsupported' };
        // A second close: the file is gone already.
        if (world.bindingState !== 'open') return CLOSED;
        return await unbind(world, life, b as Binding & { unbind(): Promise<void> });
      }
      case 'reclaim':
        return OK(await m.reclaim(va(world, op.region, op.page)));
      case 'compact': {
        const e = m.pte(va(world, op.region, op.page));
        if (pteKindOf(e) !== PTE_PRESENT) return OK(-EINVAL);
        return OK(await compactPage(k, k.pages.page(ptePfn(e))));
      }
      case 'oom-reap':
        // The OOM killer chose this process: it runs no more, and the reaper tears down its memory.
        world.dead.add(m);
        return OK((await oomReap(m)) ? 0 : -11);
    }
  } catch (e) {
    if (e instanceof SignalError) return { ret: null, status: 'signal' };
    throw e;
  }
}

/** Counts a CPU op of `mm`'s programs as in flight until it returns. */
function enterThread(world: World, mm: Mm): { inFlight: number; idle: WaitQueue | null } {
  let t = world.threads?.get(mm);
  if (t === undefined) {
    t = { inFlight: 0, idle: null };
    world.threads?.set(mm, t);
  }
  t.inFlight++;
  return t;
}

/**
 * `exit_group`: the process's other threads are killed, and the last of them to leave the kernel
 * drops the last reference on the address space (kernel/exit.c: `zap_other_threads`, then each
 * thread's `exit_mm` and `mmput`). So `exit_mmap` never runs beside a system call or fault of the
 * same process: the exit waits until none of its programs' ops is in flight (an op waiting for a
 * killable lock would return -EINTR instead of finishing; it finishes here, which changes nothing
 * the exit then does). New ops of the process are skipped from the moment it is marked dead.
 */
async function threadsLeft(world: World, mm: Mm): Promise<void> {
  const t = world.threads?.get(mm);
  if (t === undefined || t.inFlight === 0) return;
  t.idle ??= world.kernel.waitQueue(`exit_group (mm ${mm.id})`);
  await t.idle.waitEvent(() => t.inFlight === 0);
}

/** An open of another device in progress, which the process's other actions that use the device wait for. */
interface PeerOpen {
  done: boolean;
  readonly wq: WaitQueue;
}

/** The opens of other devices in progress, by run: actions that first use a device at once share its one open. */
const peerOpens = new WeakMap<World, Map<number, PeerOpen>>();

/**
 * The main process's binding of driver device `device`, opened at its first use; null when the
 * driver has no such device or its process is gone. Two actions of the process that first use the
 * device at once (two threads) share the one binding: the second sleeps until the first's open
 * returned, so the binding the exit closes is the only one the driver made.
 */
async function peerBinding(world: World, device: number): Promise<Binding | null> {
  const known = world.peers?.get(device);
  if (known !== undefined) return known;
  let opens = peerOpens.get(world);
  const pending = opens?.get(device);
  if (pending !== undefined) {
    await pending.wq.waitEvent(() => pending.done);
    return world.peers?.get(device) ?? null;
  }
  if (opens === undefined) {
    opens = new Map();
    peerOpens.set(world, opens);
  }
  const open: PeerOpen = { done: false, wq: world.kernel.waitQueue(`open of device ${device}`) };
  opens.set(device, open);
  try {
    return await openPeer(world, device);
  } finally {
    open.done = true;
    opens.delete(device);
    open.wq.wakeUpAll();
  }
}

/**
 * Opens device `device` for the main process: the driver's `bind` of it. The open and the
 * driver's init ioctl are system calls of a thread of the process, so the process's exit waits
 * for them ({@link threadsLeft}) as for its other system calls: the driver registers its
 * notifiers on an mm that still has users, and the exit's close of the files finds the binding.
 */
async function openPeer(world: World, device: number): Promise<Binding | null> {
  const mm = world.processes[0] as Mm;
  if (world.driver === null || device >= world.devices.length || world.dead.has(mm)) return null;
  const thread = world.threads === undefined ? null : enterThread(world, mm);
  try {
    const b = await world.driver.bind(mm, { device });
    checkBindingDevices(b, world.devices);
    world.peers?.set(device, b);
    return b;
  } finally {
    if (thread !== null && --thread.inFlight === 0) thread.idle?.wakeUpAll();
  }
}

/**
 * A device access of several pages: the driver's copy command for them when it has one, holding
 * the file as its other calls do; otherwise the device touches word `word` of each page in turn,
 * up to the first access that fails.
 */
async function rangeAccess(
  world: World,
  life: Holds,
  b: Binding,
  vm: DeviceVm,
  op: Extract<OpSpec, { op: 'dev-read' | 'dev-write' }>,
  pages: number,
): Promise<Result> {
  const ps = world.kernel.pageSize;
  const start = va(world, op.region, op.page);
  const end = start + pages * ps;
  const copy = op.op === 'dev-read' ? b.readRange : b.writeRange;
  if (copy !== undefined) {
    // The command is a syscall of the process: the thread making it holds the mm until it
    // returns (do_exit runs exit_mm only after the syscall, kernel/exit.c), so the process's
    // exit cannot tear the address space down under it.
    const mm = world.processes[0] as Mm;
    if (!mm.mmgetNotZero()) return { ret: null, status: 'skipped' };
    const value = op.op === 'dev-write' ? op.value : 0;
    let ret: number;
    try {
      ret = await life.hold(() => copy.call(b, start, end, value));
    } finally {
      await mm.mmput();
    }
    return ret < 0 ? { ret, status: 'signal' } : OK(ret);
  }
  let r: AccessResult = { ok: true, value: 0 };
  for (let p = 0; p < pages && r.ok; p++) {
    const a = va(world, op.region, op.page + p, op.word);
    r = b.accessesAreSyscalls === true ? await life.hold(() => devAccess(vm, op, a)) : await devAccess(vm, op, a);
    if (!r.ok) noteFailedAccess(world, vm, op, a, r.errno);
  }
  return r.ok ? OK(r.value) : { ret: r.errno, status: 'signal' };
}

/** A short description of an op, for reports: `write r0 p2 w1 = 7`. */
export function describeOp(op: OpSpec): string {
  const parts: string[] = [op.op];
  if ('region' in op) parts.push(`r${op.region}`);
  if ('page' in op) parts.push(`p${op.page}`);
  if ('through' in op && op.through !== undefined) parts.push(`..r${op.through.region} p${op.through.page}`);
  else if ('pages' in op) parts.push(`+${op.pages}`);
  if (op.op === 'pin') parts.push(op.write ? 'write' : 'read');
  if (op.op === 'command') parts.push(op.name);
  if ('word' in op && op.word !== undefined) parts.push(`w${op.word}`);
  if ('prot' in op) parts.push(op.prot);
  if ('advice' in op) parts.push(op.advice);
  if ('device' in op && op.device !== undefined) parts.push(`dev${op.device}`);
  if ('proc' in op && op.proc !== undefined) parts.push(`proc${op.proc}`);
  if ('value' in op) parts.push(`= ${op.value}`);
  return parts.join(' ');
}
