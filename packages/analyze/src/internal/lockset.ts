/**
 * The lockset test of `unshared-driver-state`, shared by the TypeScript and the C rule (Eraser,
 * Savage et al., 1997): two accesses to one field of driver state, one of them a write, under no
 * lock in common, race. Accesses are compared between invalidate callbacks and driver entry points
 * (fault paths, binding methods, work items), each side's paths taken as the interpreter found them.
 */

/** A field access as a path interpreter records it. */
export interface FieldTouch {
  readonly t: 'field';
  /** The field, qualified by what declares it (`Class.field`, `struct dmirror.closed`). */
  readonly field: string;
  readonly write: boolean;
  /** Locks held at the access, by their last names. */
  readonly held: readonly { readonly name: string; readonly key: string }[];
}

/** The part of a path this test reads. */
export interface LocksetPath {
  readonly state: {
    readonly effects: readonly { readonly t: string }[];
    readonly decisions: readonly { readonly text: string; readonly value: boolean }[];
  };
}

/** One place in the code that touches a field, and the later touches of every path through it. */
export interface Access<E extends FieldTouch> {
  readonly e: E;
  /** Lock names held, `mm_users` included when the path holds a reference. */
  readonly locks: readonly string[];
  /** The callback or entry point the path runs. */
  readonly where: string;
  readonly later: { readonly write: boolean; readonly locks: readonly string[] }[];
}

/**
 * A reference on `mm_users`, as a lock: an mm's release callback runs once the last reference is
 * gone (`exit_mmap` → `mmu_notifier_release`), so what a path does while it holds one is ordered
 * before the release, as under a lock in common.
 */
const MM_USERS = 'mm_users';

/** How a side's paths are read. */
export interface SideOptions<E extends FieldTouch> {
  /** The callback or entry point. */
  readonly where: string;
  /** True when every path holds `mm_users` (a release callback: it runs when none is left). */
  readonly release?: boolean;
  /** A decision, true on the path, that took a reference on `mm_users` (`mmget_not_zero`). */
  readonly mmget: RegExp;
  /** Where an access is in the code: one entry per place. */
  readonly placeOf: (e: E) => unknown;
}

/** Adds the field accesses of `paths` to `into`, by field. */
export function collectAccesses<E extends FieldTouch>(
  paths: readonly LocksetPath[],
  into: Map<string, Access<E>[]>,
  o: SideOptions<E>,
): void {
  // One access per place (a path that does not recheck a snapshot may be one that does not use
  // it either): its later accesses are those of every path through it.
  const byPlace = new Map<unknown, Map<string, Access<E>>>();
  for (const p of paths) {
    const users = o.release === true || p.state.decisions.some((d) => d.value && o.mmget.test(d.text));
    const fields = p.state.effects.filter((e): e is E => e.t === 'field');
    const locksOf = (e: E): string[] => [...e.held.map((h) => h.name), ...(users ? [MM_USERS] : [])];
    for (let i = 0; i < fields.length; i++) {
      const e = fields[i] as E;
      const locks = locksOf(e);
      const later = fields.slice(i + 1).flatMap((f) => (f.field === e.field ? [{ write: f.write, locks: locksOf(f) }] : []));
      // One access per place, kind and set of locks held there.
      const places = byPlace.get(o.placeOf(e)) ?? new Map<string, Access<E>>();
      byPlace.set(o.placeOf(e), places);
      const key = `${e.write}:${[...locks].sort().join(',')}`;
      const known = places.get(key);
      if (known !== undefined) {
        known.later.push(...later);
        continue;
      }
      const access: Access<E> = { e, locks, where: o.where, later };
      places.set(key, access);
      let list = into.get(e.field);
      if (list === undefined) {
        list = [];
        into.set(e.field, list);
      }
      list.push(access);
    }
  }
}

function common(a: readonly string[], b: readonly string[]): boolean {
  return a.some((l) => b.includes(l));
}

/**
 * A read with no lock (but `mm_users`) that the same code reads again under a lock the writer
 * holds before it acts (a sequence read before the work and compared under the lock after it, as
 * `mmu_invalidate_retry` does): a stale snapshot costs a retry, not a wrong mapping.
 */
function recheckedSnapshot<E extends FieldTouch>(read: Access<E>, writer: Access<E>): boolean {
  return !read.e.write && read.locks.every((l) => l === MM_USERS) && read.later.some((f) => !f.write && common(f.locks, writer.locks));
}

function races<E extends FieldTouch>(a: Access<E>, b: Access<E>): boolean {
  if (!a.e.write && !b.e.write) return false;
  if (common(a.locks, b.locks)) return false;
  return !(b.e.write && recheckedSnapshot(a, b)) && !(a.e.write && recheckedSnapshot(b, a));
}

/** A race of one field: the write, and the other access. */
export interface Race<E extends FieldTouch> {
  readonly field: string;
  readonly write: Access<E>;
  readonly other: Access<E>;
}

/** The first race of each field between the callbacks' accesses and the entry points'. */
export function lockSetRaces<E extends FieldTouch>(callbacks: Map<string, Access<E>[]>, entries: Map<string, Access<E>[]>): Race<E>[] {
  const out: Race<E>[] = [];
  for (const [field, cbs] of callbacks) {
    const ens = entries.get(field);
    if (ens === undefined) continue;
    const pair = cbs.flatMap((c) => ens.filter((n) => races(c, n)).map((n): [Access<E>, Access<E>] => [c, n]))[0];
    if (pair === undefined) continue;
    const [c, n] = pair;
    out.push(n.e.write ? { field, write: n, other: c } : { field, write: c, other: n });
  }
  return out;
}

/** The locks of an access, as a reader would say them (`mm_users` left out). */
export function locksText(a: Access<FieldTouch>, quote: (key: string) => string = (k) => `\`${k}\``): string {
  const locks = a.e.held.map((h) => h.key);
  return locks.length === 0 ? 'no lock' : locks.map(quote).join(' and ');
}
