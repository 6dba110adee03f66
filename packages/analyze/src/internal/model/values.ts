/**
 * Abstract values of the path interpreter: what an expression of a driver callback evaluates to
 * on one path. Anything the analysis does not model is a symbol named by its canonical text, so
 * that the same driver-state test (`this.vm.pt.size === 0`) is decided once per path.
 */
import type { Node } from 'ts-morph';
import type { ClassInfo } from './program.js';

/** `MMU_NOTIFY_*` in kernel order (include/linux/mmu_notifier.h). */
export const EVENT_NAMES = [
  'MMU_NOTIFY_UNMAP',
  'MMU_NOTIFY_CLEAR',
  'MMU_NOTIFY_PROTECTION_VMA',
  'MMU_NOTIFY_PROTECTION_PAGE',
  'MMU_NOTIFY_SOFT_DIRTY',
  'MMU_NOTIFY_RELEASE',
  'MMU_NOTIFY_MIGRATE',
  'MMU_NOTIFY_EXCLUSIVE',
] as const;

/** Bit of each event in an event set. */
export const EV = {
  UNMAP: 1 << 0,
  CLEAR: 1 << 1,
  PROTECTION_VMA: 1 << 2,
  PROTECTION_PAGE: 1 << 3,
  SOFT_DIRTY: 1 << 4,
  RELEASE: 1 << 5,
  MIGRATE: 1 << 6,
  EXCLUSIVE: 1 << 7,
} as const;

/** Every event. */
export const ALL_EVENTS = 0xff;

/** The events a range can carry when `mmuNotifierRangeBlockable(range)` is false: the OOM reaper's UNMAP. */
export const NONBLOCKABLE_EVENTS = EV.UNMAP;

/** Constants of the kernel API a driver compares against, by name. */
const KNOWN_CONSTANTS: ReadonlyMap<string, number> = new Map<string, number>([
  ...EVENT_NAMES.map((n, i) => [n, i] as [string, number]),
  ['MMU_NOTIFIER_RANGE_BLOCKABLE', 1],
  ['EPERM', 1],
  ['ENOENT', 2],
  ['EINTR', 4],
  ['EAGAIN', 11],
  ['ENOMEM', 12],
  ['EFAULT', 14],
  ['EBUSY', 16],
  ['EEXIST', 17],
  ['EINVAL', 22],
  ['EOVERFLOW', 75],
]);

/** The value of a known kernel constant, or undefined. */
export function knownConstant(name: string): number | undefined {
  return KNOWN_CONSTANTS.get(name);
}

/** A set of events, as text: `MMU_NOTIFY_MIGRATE`, `{A, B}`, `not {A}` or `any event`. */
export function eventSetText(set: number): string {
  if (set === ALL_EVENTS) return 'any event';
  const names = (s: number) => EVENT_NAMES.filter((_, i) => (s & (1 << i)) !== 0);
  const inSet = names(set);
  const outSet = names(ALL_EVENTS & ~set);
  if (inSet.length === 0) return 'no event';
  if (inSet.length === 1) return inSet[0] as string;
  if (outSet.length < inSet.length) return `not ${outSet.length === 1 ? outSet[0] : `{${outSet.join(', ')}}`}`;
  return `{${inSet.join(', ')}}`;
}

/** The events of a set, by name. */
export function eventNames(set: number): string[] {
  return EVENT_NAMES.filter((_, i) => (set & (1 << i)) !== 0);
}

/** A boolean formula over what a path knows. */
export type Cond =
  | { readonly k: 'const'; readonly v: boolean }
  /** `range.event` is one of the set. */
  | { readonly k: 'event'; readonly set: number; readonly node: Node }
  /**
   * A test of `range.owner` (or `data`, `migratePgmapOwner`): `match` when it is compared with a
   * value (the driver's own owner), else a test for NULL.
   */
  | { readonly k: 'owner'; readonly node: Node; readonly text: string; readonly match: boolean }
  /** `mmuNotifierRangeBlockable(range)`. */
  | { readonly k: 'blockable' }
  /** Anything else, decided once per path by its canonical text. */
  | { readonly k: 'atom'; readonly key: string }
  | { readonly k: 'not'; readonly c: Cond }
  | { readonly k: 'and'; readonly a: Cond; readonly b: Cond }
  | { readonly k: 'or'; readonly a: Cond; readonly b: Cond };

/** A function value: its declaration and what it closes over. */
export interface FnValue {
  readonly k: 'fn';
  readonly node: Node;
  /** Lexical environment of the declaration (for arrows and nested functions). */
  readonly env: Env | null;
  /** `this` inside it. */
  readonly thisValue: Value | null;
  /** Class whose member it is (for `super`). */
  readonly owner: ClassInfo | null;
}

/** An abstract value. */
export type Value =
  | { readonly k: 'const'; readonly v: unknown }
  | { readonly k: 'cond'; readonly c: Cond }
  | { readonly k: 'event' }
  /** `range.owner` (or `data`, `migratePgmapOwner`), and where it was read. */
  | { readonly k: 'owner'; readonly field: string; readonly node?: Node | undefined }
  | { readonly k: 'range' }
  /** A symbolic value; `cls` when its class is known (`this`). `type` drives `typeof` tests. */
  | {
      readonly k: 'sym';
      readonly key: string;
      readonly cls?: ClassInfo | undefined;
      readonly type?: string | undefined;
      /** The driver field it was read from, as `Class.field` (see `plainField` in calls.ts). */
      readonly field?: string | undefined;
      /**
       * The class its declared type names (a parameter `prange: SvmRange`, a field, a cast `as
       * X`), when `cls` is not known: used only to key the fields read through it, not to
       * resolve its methods.
       */
      readonly fcls?: ClassInfo | undefined;
    }
  | FnValue
  | { readonly k: 'obj'; readonly props: ReadonlyMap<string, Value> };

/** A value, and the `return` statement of an inlined function it came out of. */
export type Located = Value & { readonly origin?: Node };

/** A lexical environment: names to variable slots (the slot's value lives in the path state). */
export interface Env {
  readonly vars: Map<string, string>;
  readonly parent: Env | null;
}

/** A new environment under `parent`. */
export function newEnv(parent: Env | null): Env {
  return { vars: new Map(), parent };
}

/** The slot of `name` visible from `env`, or undefined. */
export function lookupSlot(env: Env | null, name: string): string | undefined {
  for (let e = env; e !== null; e = e.parent) {
    const s = e.vars.get(name);
    if (s !== undefined) return s;
  }
  return undefined;
}

export const TRUE: Value = { k: 'const', v: true };
export const FALSE: Value = { k: 'const', v: false };
export const UNDEF: Value = { k: 'const', v: undefined };

/** A symbol. */
export function sym(key: string, type?: string): Value {
  return type === undefined ? { k: 'sym', key } : { k: 'sym', key, type };
}

/** Canonical text of a value, for atom keys. */
export function keyOf(v: Value): string {
  switch (v.k) {
    case 'const':
      return typeof v.v === 'string' ? JSON.stringify(v.v) : String(v.v);
    case 'sym':
      return v.key;
    case 'event':
      return 'range.event';
    case 'owner':
      return `range.${v.field}`;
    case 'range':
      return 'range';
    case 'cond':
      return condText(v.c);
    case 'fn':
      return 'function';
    case 'obj':
      return `{${[...v.props.keys()].join(', ')}}`;
  }
}

/** A condition as text. */
function condText(c: Cond): string {
  switch (c.k) {
    case 'const':
      return String(c.v);
    case 'event':
      return `range.event is ${eventSetText(c.set)}`;
    case 'owner':
      return c.text;
    case 'blockable':
      return 'mmuNotifierRangeBlockable(range)';
    case 'atom':
      return c.key;
    case 'not':
      return `!(${condText(c.c)})`;
    case 'and':
      return `(${condText(c.a)} && ${condText(c.b)})`;
    case 'or':
      return `(${condText(c.a)} || ${condText(c.b)})`;
  }
}

/** `!c`, simplified. */
export function notCond(c: Cond): Cond {
  if (c.k === 'const') return { k: 'const', v: !c.v };
  if (c.k === 'not') return c.c;
  return { k: 'not', c };
}

/** The condition a value stands for when tested. */
export function asCond(v: Value): Cond {
  switch (v.k) {
    case 'const':
      return { k: 'const', v: Boolean(v.v) };
    case 'cond':
      return v.c;
    case 'fn':
    case 'obj':
    case 'range':
      return { k: 'const', v: true };
    case 'owner':
      // `if (range.owner)`: true for every owner but NULL, another device's included.
      if (v.node !== undefined) return notCond({ k: 'owner', node: v.node, text: v.node.getText(), match: false });
      return { k: 'atom', key: keyOf(v) };
    default:
      return { k: 'atom', key: keyOf(v) };
  }
}

/** The arguments a rest parameter gathers, as an array-like object (`length` and the indices): a spread of it passes them on. */
export function argList(args: readonly Value[]): Value {
  const props = new Map<string, Value>(args.map((v, i) => [String(i), v]));
  props.set('length', { k: 'const', v: args.length });
  return { k: 'obj', props };
}

/** The values a spread of `v` passes (an {@link argList}), or undefined when they are not known. */
export function spreadOf(v: Value): Value[] | undefined {
  if (v.k !== 'obj') return undefined;
  const n = v.props.get('length');
  if (n?.k !== 'const' || typeof n.v !== 'number') return undefined;
  return Array.from({ length: n.v }, (_x, i) => v.props.get(String(i)) ?? UNDEF);
}

const OWNER_FIELDS = new Set(['owner', 'data', 'migratePgmapOwner']);

/** Field `name` of the kernel's `mmu_notifier_range`: its event, its owner, or a number. */
export function rangeField(name: string, at?: Node): Value {
  if (name === 'event') return { k: 'event' };
  if (OWNER_FIELDS.has(name)) return { k: 'owner', field: name, node: at };
  return sym(`range.${name}`, name === 'start' || name === 'end' || name === 'flags' ? 'number' : undefined);
}
