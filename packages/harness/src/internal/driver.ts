/**
 * What a driver author writes: a driver definition that creates its devices in a kernel (module
 * init and probe) and binds to processes (open the device file, create a GPU VM), registering its
 * notifier callbacks in the kernel's shapes. A driver module default-exports one definition.
 */
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HmmlabError, type Kernel, type KernelProfile, kernelProfile, type Mm, PROFILE_NAMES, type ProfileName } from '@hmmlab/core';
import type { Device } from './device.js';
import type { DeviceVm } from './device-vm.js';

/**
 * One attachment of the driver to a process: the device address spaces that mirror it, and the
 * driver's own paths the fuzzer can call. Every action returns 0 or a negative errno.
 */
export interface Binding {
  /** Device address spaces mirroring the process (one per device the binding uses). */
  readonly vms: readonly DeviceVm[];
  /** Migrate `[start, end)` to device memory (the driver's prefetch or migrate ioctl). */
  migrateToDevice?(start: number, end: number): Promise<number>;
  /** Migrate `[start, end)` back to system memory. */
  migrateToRam?(start: number, end: number): Promise<number>;
  /** Evict all device memory (device removal, memory pressure). */
  evict?(): Promise<number>;
  /** Take `[start, end)` for device atomics (device-exclusive access). */
  makeExclusive?(start: number, end: number): Promise<number>;
  /** Fault `[start, end)` into the device page table ahead of any access. */
  prefetch?(start: number, end: number, write: boolean): Promise<number>;
  /**
   * The device reads `[start, end)` through the driver's own copy command (test_hmm's
   * `HMM_DMIRROR_READ`), for a multi-page `dev-read`: 0 or a negative errno. The words it copies
   * are device reads the oracle checks (`DeviceVm.accessMapped`). Without it, such an op reads one
   * word of each page through the device.
   */
  readRange?(start: number, end: number): Promise<number>;
  /** The device stores `value` in every word of `[start, end)` through the driver's own copy command (`HMM_DMIRROR_WRITE`). */
  writeRange?(start: number, end: number, value: number): Promise<number>;
  /**
   * Runs the driver's extra command `name` (one of {@link DriverDefinition.commands}) over
   * `[start, end)`: an ioctl or file operation of the driver that no other action stands for.
   * Returns 0, a count, or a negative errno.
   */
  command?(name: string, start: number, end: number): Promise<number>;
  /**
   * Detach (the last close of the file, `->release`): stop taking the device's faults and wait
   * for those in flight, stop using the process, remove the notifiers, free the device address
   * spaces. The scenario runner calls it only after the driver's calls on this binding have
   * returned (its actions, and its device accesses when they are syscalls); the device's own
   * fault handling holds no file and may still be running, as a GPU's or NIC's does. When it
   * returns, every address space in `vms` is freed (`DeviceVm.destroy`) unless the driver freed
   * it already.
   */
  unbind?(): Promise<void>;
  /**
   * Device accesses are the driver's own syscalls, not hardware: test_hmm's `dmirror_read` and
   * `dmirror_write` ioctls on its CPU-emulated device hold the file, so `unbind` waits for them
   * and nothing reaches the address spaces while it runs. Otherwise the device is hardware that
   * keeps running on its translations until the driver stops it. @defaultValue false
   */
  readonly accessesAreSyscalls?: boolean;
}

/** The driver, probed in one kernel. */
export interface DriverInstance<B extends Binding = Binding> {
  /** The driver's devices. */
  readonly devices: readonly Device[];
  /** Attaches to the process `mm`; `device` picks one of several devices (default 0). */
  bind(mm: Mm, options?: { device?: number }): Promise<B>;
}

/** A driver definition: the default export of a driver module. */
export interface DriverDefinition<B extends Binding = Binding> {
  /** Name, for reports and replay tokens. */
  readonly name: string;
  /** One line on what the driver models. */
  readonly description?: string;
  /** Kernel API profiles the driver is written for; the fuzzer runs each. @defaultValue ['latest'] */
  readonly profiles?: readonly ProfileName[];
  /**
   * Names of extra commands over a page range that its bindings run through
   * {@link Binding.command} (its own ioctls, such as a query of the device page table, or mapping
   * the device file); generated driver programs call them like the other actions. @defaultValue []
   */
  readonly commands?: readonly string[];
  /**
   * How many of its devices one process may use at once, each through its own
   * `bind(mm, { device })` (a process using two GPUs; two open /dev/hmm_dmirrorN files): above 1,
   * the fuzzer's driver programs also migrate, prefetch and take pages through devices 1 to n - 1,
   * so each device sees the others' invalidations with a foreign owner. @defaultValue 1
   */
  readonly bindDevices?: number;
  /**
   * How many device address spaces one binding mirrors the process in (`Binding.vms`: one per GPU
   * of a hive that one open file drives, one per tile of a GPU): the fuzzer's device work uses
   * every one of them. A binding with more address spaces than declared fails its run, so that
   * no GPU or tile is left out of a campaign without a word. @defaultValue 1
   */
  readonly vmsPerBinding?: number;
  /**
   * A kernel what-if the driver needs: profile rows changed in every run (a scenario's own
   * `profileOverrides` change more). Only for a correct driver that meets a kernel bug on the
   * kernel as it is; name the bug and its fix where the driver is documented, and keep a test of
   * the hang or corruption on the real kernel. @defaultValue none
   */
  readonly profileOverrides?: Partial<Omit<KernelProfile, 'name'>>;
  /** Creates the devices and driver state in a fresh kernel. */
  probe(kernel: Kernel): DriverInstance<B> | Promise<DriverInstance<B>>;
}

/** Checks a driver definition and returns it unchanged (for typing and early errors). */
export function defineDriver<B extends Binding>(def: DriverDefinition<B>): DriverDefinition<B> {
  checkDefinition(def, 'defineDriver');
  const at = callingModule(new Error().stack);
  if (at !== undefined && !modules.has(def)) modules.set(def, at);
  return def;
}

/** The module each definition came from: the one loadDriver loaded, or where defineDriver ran. */
const modules = new WeakMap<object, string>();

/**
 * The path of the module that defined `def`, for messages such as a replay command: the file
 * {@link loadDriver} loaded it from, or else the module whose top level called `defineDriver`
 * (directly or through a factory function). Undefined when neither is known.
 */
export function driverModuleOf(def: DriverDefinition): string | undefined {
  return modules.get(def);
}

/**
 * The file of the first module top-level frame of a stack (a frame without a function name):
 * `at file:///m.js:1:2` as V8 prints it, or `at <anonymous> (/m.ts:1:2)` as Node prints it with
 * source maps on (TypeScript loaded through tsx).
 */
export function callingModule(stack: string | undefined): string | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const m =
      /^\s*at (?:async )?(?:file:\/\/)?(\/[^()]*?\.[cm]?[jt]sx?):\d+:\d+$/.exec(line) ??
      /^\s*at (?:async )?<anonymous> \((?:file:\/\/)?(\/[^()]*?\.[cm]?[jt]sx?):\d+:\d+\)$/.exec(line);
    if (m?.[1] !== undefined && !m[1].includes('/node_modules/')) return decodeURI(m[1]);
  }
  return undefined;
}

/** Every field of {@link DriverDefinition}: a field the interface gains must be added here. */
const DEFINITION_FIELDS = {
  name: true,
  description: true,
  profiles: true,
  commands: true,
  bindDevices: true,
  vmsPerBinding: true,
  profileOverrides: true,
  probe: true,
} as const satisfies Record<keyof DriverDefinition, true>;

function checkDefinition(def: unknown, where: string): asserts def is DriverDefinition {
  if (typeof def !== 'object' || def === null) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${where}: a driver definition must be an object with name and probe; got ${String(def)}`);
  }
  const d = def as Partial<DriverDefinition>;
  if (typeof d.name !== 'string' || d.name === '') {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${where}: the driver definition has no name (a non-empty string)`);
  }
  if (typeof d.probe !== 'function') {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${where}: driver "${d.name}" has no probe(kernel) function`);
  }
  // A misspelt field (`bindDevice`) would leave the fuzzer without what it names, without a word.
  for (const k of Object.keys(d)) {
    if (!(k in DEFINITION_FIELDS)) {
      throw new HmmlabError(
        'ERR_BAD_ARGUMENT',
        `${where}: driver "${d.name}" has an unknown field "${k}"; the fields are ${Object.keys(DEFINITION_FIELDS).join(', ')}`,
      );
    }
  }
  if (d.commands !== undefined && (!Array.isArray(d.commands) || d.commands.some((c) => typeof c !== 'string' || c === ''))) {
    throw new HmmlabError('ERR_BAD_ARGUMENT', `${where}: driver "${d.name}" commands must be an array of non-empty names`);
  }
  if (d.bindDevices !== undefined && (!Number.isInteger(d.bindDevices) || d.bindDevices < 1)) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${where}: driver "${d.name}" bindDevices is ${String(d.bindDevices)}; expected an integer of at least 1`,
    );
  }
  if (d.vmsPerBinding !== undefined && (!Number.isInteger(d.vmsPerBinding) || d.vmsPerBinding < 1)) {
    throw new HmmlabError(
      'ERR_BAD_ARGUMENT',
      `${where}: driver "${d.name}" vmsPerBinding is ${String(d.vmsPerBinding)}; expected an integer of at least 1`,
    );
  }
  if (d.profileOverrides !== undefined) {
    try {
      if (typeof d.profileOverrides !== 'object' || d.profileOverrides === null || Array.isArray(d.profileOverrides)) {
        throw new Error('expected an object of profile fields, like { "classicFailureItree": "end" }');
      }
      kernelProfile('latest', d.profileOverrides);
    } catch (e) {
      throw new HmmlabError('ERR_PROFILE', `${where}: driver "${d.name}" profileOverrides: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  for (const p of d.profiles ?? []) {
    if (!PROFILE_NAMES.includes(p)) {
      throw new HmmlabError(
        'ERR_PROFILE',
        `${where}: driver "${d.name}" lists unknown profile "${p}"; expected one of ${PROFILE_NAMES.join(', ')}`,
      );
    }
  }
}

/**
 * One line for a module that failed to load: the place and message of a TypeScript syntax error
 * (esbuild's "Transform failed with 1 error:" and a line of its own), and for a module Node loads
 * as CommonJS, what to add to package.json.
 */
function loadFailure(path: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const transform = /^Transform failed with \d+ errors?:\n([\s\S]*)$/.exec(msg);
  if (transform !== null) {
    const lines = (transform[1] as string).trim().split('\n');
    const first = (lines[0] as string).replace(/: ERROR: /, ': ');
    return `${first}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`;
  }
  if (/Cannot require\(\) ES Module|ERR_REQUIRE_ESM|ERR_REQUIRE_CYCLE_MODULE/.test(msg)) {
    return `${path} failed to load: Node loads it as CommonJS: add "type": "module" to the package.json of its folder (${msg.split('\n')[0]})`;
  }
  return `${throwSite(path, e)} failed to load: ${msg}`;
}

/** This module's folder: frames of the loader itself are not where a driver threw. */
const HARNESS_DIR = fileURLToPath(new URL('.', import.meta.url));

/**
 * Where a module's load threw, as `file:line` relative to the working folder: the first frame of
 * its stack in a file of the driver's (not in node_modules, Node's own code or this loader), else
 * the module.
 */
function throwSite(path: string, e: unknown): string {
  const stack = e instanceof Error ? (e.stack ?? '') : '';
  for (const m of stack.matchAll(/(?:^|[\s(])((?:file:\/\/)?\/[^\s()]+?):(\d+):\d+/gm)) {
    const at = m[1] as string;
    if (at.includes('/node_modules/')) continue;
    let file: string;
    try {
      file = at.startsWith('file:') ? fileURLToPath(at) : at;
    } catch {
      continue;
    }
    if (file.startsWith(HARNESS_DIR)) continue;
    return `${shown(file)}:${m[2]}:`;
  }
  return shown(path);
}

/** `file` relative to the working folder when it is under it. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') || rel === '' ? file : rel;
}

/** Thrown by {@link loadDriver} when a module is missing, fails to load, or exports no driver. */
export class DriverLoadError extends Error {
  /** The module that failed. */
  readonly file: string;
  constructor(file: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'DriverLoadError';
    this.file = file;
  }
}

/**
 * The one entry point that loads a driver module: `file` is a `driver.ts` (or .js) path, or a
 * folder holding `driver.ts`. The module's default export must be a driver definition. Loading
 * TypeScript needs a TypeScript-aware runtime (vitest, or tsx as the CLI uses).
 */
export async function loadDriver(file: string): Promise<DriverDefinition> {
  const { existsSync, statSync } = await import('node:fs');
  const { resolve, join } = await import('node:path');
  let path = resolve(file);
  if (!existsSync(path)) throw new DriverLoadError(file, `no such file or folder: ${file}`);
  if (statSync(path).isDirectory()) {
    const candidates = ['driver.ts', 'driver.js', 'driver.mts', 'driver.mjs'].map((n) => join(path, n));
    const found = candidates.find((c) => existsSync(c));
    if (found === undefined) throw new DriverLoadError(file, `${file} is a folder without driver.ts; pass the driver module itself`);
    path = found;
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    throw new DriverLoadError(path, loadFailure(path, e), e);
  }
  if (mod.default === undefined) {
    throw new DriverLoadError(path, `${path} has no default export; end it with \`export default defineDriver({ ... })\``);
  }
  try {
    checkDefinition(mod.default, path);
  } catch (e) {
    throw new DriverLoadError(path, e instanceof Error ? e.message : String(e), e);
  }
  modules.set(mod.default, path);
  return mod.default;
}
