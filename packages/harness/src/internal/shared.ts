/**
 * Driver state that several tasks touch: the flags, presence bitmaps, counters and lists that a
 * driver's notifier callback and its fault or migration paths share (xe's `tile_present` /
 * `tile_invalidated`, amdkfd's `svm_bo` eviction state, nouveau's `svmm->unmanaged`). Every read
 * and write is a tracked access (a `shared-access` trace event), so the oracle's `data-race` rule
 * can tell when two tasks touch the same state, one writes, and nothing orders them: no common
 * lock, no wake-up, no sequence count (loom's `loom::cell::UnsafeCell` plays the same part).
 *
 * State read and written with `READ_ONCE`/`WRITE_ONCE` or atomic operations on purpose (a
 * statistics counter, a flag that is only a hint) is declared `{ atomic: true }`: accesses that
 * are all atomic never race with each other. State whose accesses differ, as the kernel's often do
 * (written with `WRITE_ONCE` under a lock, read plainly by the other holders of that lock and with
 * `READ_ONCE` by a lockless reader), marks each access: `readOnce`/`writeOnce` beside the plain
 * `get`/`set`. A marked access races with a plain one it is not ordered with, as KCSAN reports it
 * (Documentation/dev-tools/kcsan.rst: a data race is two concurrent accesses, one a write, one not marked).
 */
import type { Kernel } from '@hmmlab/core';

/** Options of {@link SharedCell} and {@link SharedMap}. */
export interface SharedOptions {
  /**
   * Accesses are atomic (`READ_ONCE`/`WRITE_ONCE`, `atomic_t`): two atomic accesses never race;
   * an atomic and a plain one still do. @defaultValue false
   */
  readonly atomic?: boolean;
}

// Ids are numbered per kernel, so that a run's trace is the same whatever ran before it in the process.
function nextSharedId(kernel: Kernel): number {
  return kernel.nextId('shared');
}

/** Records an access. Outside a run (set-up, or inspecting state after it) nothing runs concurrently: nothing to record. */
function access(kernel: Kernel, obj: number, name: string, key: string, write: boolean, atomic: boolean): void {
  const tr = kernel.trace;
  if (tr.on && kernel.sched.isRunning) tr.emit({ type: 'shared-access', obj, name, key, write, atomic });
}

/** One value shared between tasks: `get` is a tracked read, `set` a tracked write. */
export class SharedCell<T> {
  /** Name, for traces and data-race reports. */
  readonly name: string;
  private value: T;
  private readonly kernel: Kernel;
  private readonly id: number;
  private readonly atomic: boolean;

  /**
   * @param kernel - the kernel whose trace records the accesses
   * @param name - named in race reports (`"gpu0 svm present"`)
   * @param initial - the value before any write (initialisation is not an access)
   */
  constructor(kernel: Kernel, name: string, initial: T, options: SharedOptions = {}) {
    this.kernel = kernel;
    this.id = nextSharedId(kernel);
    this.name = name;
    this.value = initial;
    this.atomic = options.atomic ?? false;
  }

  /** Reads the value (a tracked read). */
  get(): T {
    access(this.kernel, this.id, this.name, '', false, this.atomic);
    return this.value;
  }

  /** Writes the value (a tracked write). */
  set(value: T): void {
    access(this.kernel, this.id, this.name, '', true, this.atomic);
    this.value = value;
  }

  /** `READ_ONCE`: a marked read, whatever the cell's default. */
  readOnce(): T {
    access(this.kernel, this.id, this.name, '', false, true);
    return this.value;
  }

  /** `WRITE_ONCE`: a marked write, whatever the cell's default. */
  writeOnce(value: T): void {
    access(this.kernel, this.id, this.name, '', true, true);
    this.value = value;
  }

  /** Read-modify-write (`x = f(x)`): one read and one write. */
  update(f: (value: T) => T): T {
    const v = f(this.get());
    this.set(v);
    return v;
  }
}

/**
 * A map shared between tasks, tracked per key: tasks that touch different keys do not conflict
 * (a presence bitmap indexed by page, a list of DMA mappings by page). Iterating reads every key.
 */
export class SharedMap<K extends number | string, V> {
  /** Name, for traces and data-race reports. */
  readonly name: string;
  private readonly map = new Map<K, V>();
  private readonly kernel: Kernel;
  private readonly id: number;
  private readonly atomic: boolean;

  /**
   * @param kernel - the kernel whose trace records the accesses
   * @param name - named in race reports
   */
  constructor(kernel: Kernel, name: string, options: SharedOptions = {}) {
    this.kernel = kernel;
    this.id = nextSharedId(kernel);
    this.name = name;
    this.atomic = options.atomic ?? false;
  }

  private touch(key: K, write: boolean): void {
    if (this.kernel.trace.on && this.kernel.sched.isRunning) access(this.kernel, this.id, this.name, String(key), write, this.atomic);
  }

  /** The value of `key` (a tracked read of that key). */
  get(key: K): V | undefined {
    this.touch(key, false);
    return this.map.get(key);
  }

  /** True if `key` is present (a tracked read of that key). */
  has(key: K): boolean {
    this.touch(key, false);
    return this.map.has(key);
  }

  /** Sets `key` (a tracked write of that key). */
  set(key: K, value: V): void {
    this.touch(key, true);
    this.map.set(key, value);
  }

  /** Removes `key` (a tracked write of that key); true if it was present. */
  delete(key: K): boolean {
    this.touch(key, true);
    return this.map.delete(key);
  }

  /** The entries in insertion order (a tracked read of every key). */
  entries(): [K, V][] {
    const out = [...this.map];
    for (const [k] of out) this.touch(k, false);
    return out;
  }

  /** Number of entries (not tracked: a size is a hint unless the keys are read). */
  get size(): number {
    return this.map.size;
  }
}
