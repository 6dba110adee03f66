/**
 * The path interpreter for kernel C: runs a notifier callback (or a fault path) over all its
 * paths, as the TypeScript interpreter does for models. A path knows the set of
 * `MMU_NOTIFY_*` events it allows, whether `range->owner` matched, blockability
 * (`mmu_notifier_range_blockable`), every other test it decided (by its text, decided once per
 * path), the locks it holds and what it did, in order.
 *
 * Kernel C as written: `container_of` and friends evaluate their arguments; `guard(kind)(&l)`
 * holds `l` to the end of its block and `scoped_guard(kind, &l) { }` over its block; loop
 * statements and loop macros (`list_for_each_entry(...) { }`) run their body zero times or once;
 * `goto` jumps forward to its label in an enclosing block (a backward `goto` ends the path the
 * second time); `static` functions of the analysed files are inlined, with `range`, `mni` and
 * event values followed through their parameters.
 */

import { dirname } from 'node:path';
import { EV, NONBLOCKABLE_EVENTS } from '../internal/model/values.js';
import { type CNode, kids, lineOf, textOf } from './parse.js';

/** Where something happened: file, 1-based line, and the source text. */
export interface Site {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** A lock held on a path: its expression (`dmirror->mutex`) and its last name (`mutex`). */
export interface Held {
  readonly key: string;
  readonly name: string;
  readonly at: Site;
  /** For `guard()`: the block depth at which it is dropped. */
  readonly scope?: number;
  /** The struct the lock is a field of (`&svms->lock` → `struct svm_range_list`), when the pointer's declaration says. */
  readonly struct?: string;
}

/**
 * How a driver call changes the device's view, judged by its name. `dma-map` (`dma_map_page`,
 * `dma_map_sgtable`) makes a page reachable for DMA but writes no device entry: mapping before the
 * retry check is the usual order (the entries that use the address are written after it, under the
 * lock), mapping after the lock was dropped is not.
 */
export type OpClass = 'revoke' | 'tlb' | 'invalidate' | 'dma-unmap' | 'dma-map' | 'program' | 'other';

/** What a path did, in order. */
export type CEffect =
  | { readonly t: 'event-test'; readonly at: Site; readonly comments: readonly string[] }
  | { readonly t: 'owner-test'; readonly at: Site; readonly events: number }
  /** A lock taken; `trylock` when taking it cannot wait; `struct` as in {@link Held}. */
  | { readonly t: 'acquire'; readonly at: Site; readonly key: string; readonly trylock?: true; readonly struct?: string }
  | { readonly t: 'release'; readonly at: Site; readonly key: string; readonly name: string }
  | { readonly t: 'set-seq'; readonly at: Site; readonly held: readonly Held[] }
  | { readonly t: 'read-retry'; readonly at: Site; readonly held: readonly Held[] }
  /** `mmu_interval_notifier_remove` or `mmu_notifier_unregister` (`fn`): both wait for callbacks in progress. */
  | { readonly t: 'unregister'; readonly at: Site; readonly fn: string; readonly held: readonly Held[] }
  /** A notifier registered (`mmu_interval_notifier_insert*`, `mmu_notifier_register`): its callbacks may run from here on. */
  | { readonly t: 'publish'; readonly at: Site; readonly fn: string }
  | {
      readonly t: 'sleep';
      readonly at: Site;
      readonly what: string;
      /** For a call: its first argument, and 0 when the callback itself calls it. */
      readonly target?: string;
      readonly depth?: number;
    }
  | {
      readonly t: 'op';
      readonly at: Site;
      readonly name: string;
      readonly target: string;
      readonly cls: OpClass;
      /** True for a function of the analysed files whose body was inlined. */
      readonly inlined: boolean;
      /** True for a function of the analysed files (inlined, or not for lack of budget): not judged by its name. */
      readonly defined: boolean;
      /** 0 when the callback itself calls it. */
      readonly depth: number;
      readonly held: readonly Held[];
      /**
       * True for a call whose value is an operand (an argument of another call, a side of an
       * operator, the base of a field or subscript) or initializes a pointer: an accessor such as
       * `to_i915(dev)` or `ib_umem_start(umem)`, not an action on the device.
       */
      readonly operand: boolean;
    }
  | { readonly t: 'return'; readonly at: Site; readonly held: readonly Held[]; readonly depth: number }
  /** A field of a driver struct (`struct dmirror.closed`) read or written with a plain access. */
  | { readonly t: 'field'; readonly at: Site; readonly field: string; readonly write: boolean; readonly held: readonly Held[] };

/** What a name stands for in a frame. */
type Kind = 'range' | 'mni' | 'event' | 'owner';

interface Frame {
  readonly kinds: Map<string, Kind>;
  readonly vals: Map<string, string>;
}

/** One path's knowledge. */
export interface CState {
  events: number;
  own: boolean | undefined;
  blockable: boolean | undefined;
  decisions: { readonly text: string; readonly value: boolean }[];
  held: Held[];
  effects: CEffect[];
  frames: Frame[];
  jumps: Set<string>;
  depth: number;
  /** True if the interpreter ran out of budget on this path: its end is not known. */
  cut?: boolean;
}

function clone(s: CState): CState {
  return {
    events: s.events,
    own: s.own,
    blockable: s.blockable,
    decisions: [...s.decisions],
    held: [...s.held],
    effects: [...s.effects],
    frames: s.frames.map((f) => ({ kinds: new Map(f.kinds), vals: new Map(f.vals) })),
    jumps: new Set(s.jumps),
    depth: s.depth,
    ...(s.cut === true ? { cut: true } : {}),
  };
}

function frame(s: CState): Frame {
  return s.frames[s.frames.length - 1] as Frame;
}

type Signal =
  | { readonly k: 'normal' }
  | { readonly k: 'break' }
  | { readonly k: 'continue' }
  | { readonly k: 'return'; readonly value: string | undefined; readonly at: Site }
  | { readonly k: 'goto'; readonly label: string };

interface Out {
  readonly s: CState;
  readonly sig: Signal;
}

const NORMAL: Signal = { k: 'normal' };

/** The functions the interpreter may inline, by name. */
export interface FnDef {
  readonly name: string;
  readonly file: string;
  readonly node: CNode;
  readonly params: readonly string[];
  /** Leading comments of the definition. */
  readonly doc: string;
}

const EVENT_BITS: ReadonlyMap<string, number> = new Map(Object.entries(EV).map(([k, v]) => [`MMU_NOTIFY_${k}`, v]));

const ACQUIRE =
  /^(mutex_lock(_nested|_io)?|spin_lock(_irq|_irqsave|_bh|_nested)?|raw_spin_lock(_irq|_irqsave)?|down_read|down_write|read_lock(_irq|_irqsave|_bh)?|write_lock(_irq|_irqsave|_bh)?|mmap_read_lock|mmap_write_lock)$/;
const ACQUIRE_INTR =
  /^(mutex_lock_interruptible|mutex_lock_killable|down_read_interruptible|down_read_killable|down_write_killable|mmap_read_lock_killable|mmap_write_lock_killable)$/;
const RELEASE =
  /^(mutex_unlock|spin_unlock(_irq|_irqrestore|_bh)?|raw_spin_unlock(_irq|_irqrestore)?|up_read|up_write|read_unlock(_irq|_irqrestore|_bh)?|write_unlock(_irq|_irqrestore|_bh)?|mmap_read_unlock|mmap_write_unlock)$/;
const TRYLOCK =
  /^(mutex_trylock|spin_trylock(_irq|_irqsave)?|raw_spin_trylock|down_read_trylock|down_write_trylock|read_trylock|write_trylock|mmap_read_trylock)$/;
const SLEEPS =
  /^(mutex_lock\w*|down_read\w*|down_write\w*|mmap_read_lock\w*|mmap_write_lock\w*|msleep\w*|ssleep|usleep_range\w*|schedule|schedule_timeout\w*|wait_event\w*|wait_for_completion\w*|dma_fence_wait\w*|dma_resv_wait_timeout\w*|flush_work|flush_workqueue|cancel_work_sync|cancel_delayed_work_sync|synchronize_rcu\w*|synchronize_srcu|might_sleep|cond_resched)$/;
/** Kernel helpers that neither change the device nor matter to the contract. */
const NEUTRAL =
  /^(kunmap\w*|kmap\w*|vunmap|vmap|iounmap|ioremap\w*|container_of|container_of_const|READ_ONCE|WRITE_ONCE|likely|unlikely|WARN\w*|BUG\w*|BUILD_BUG_ON\w*|pr_\w+|dev_(dbg|err|warn|info|notice|err_ratelimited|warn_ratelimited)|drm_(dbg|err|warn|info|notice|debug)\w*|drm_WARN\w*|\w+_dbg|pfn_to_kaddr|printk\w*|trace_\w+|lockdep_\w+|min|max|min_t|max_t|clamp\w*|ALIGN\w*|PAGE_ALIGN|PFN_\w+|IS_ERR\w*|PTR_ERR|ERR_PTR|ERR_CAST|list_\w+|hlist_\w+|atomic\w*|refcount_\w+|kref_\w+|rcu_\w+|smp_\w+|barrier|mmu_interval_read_begin|mmu_interval_check_retry|mmu_notifier_range_blockable|mmgrab|mmdrop|mmget\w*|mmput\w*|kfree|kvfree|vfree|kmalloc\w*|kzalloc\w*|kcalloc|kvmalloc\w*|kvcalloc|kvzalloc|kmem_cache_\w+|memset|memcpy|sizeof|offsetof|ARRAY_SIZE|test_bit|set_bit|clear_bit|__set_bit|__clear_bit|bitmap_\w+|BIT|GENMASK\w*|FIELD_\w+|lower_32_bits|upper_32_bits|jiffies_to_\w+|msecs_to_jiffies|time_after\w*|time_before\w*|get_task_struct|put_task_struct|interval_tree_\w+|ktime_\w+|tracepoint\w*|get_user_pages\w*|put_page|get_page|folio_\w+|page_to_pfn|pfn_to_page|hmm_pfn_to_page|hmm_pfn_to_map_order|is_device_private_page|page_address|virt_to_page|sg_\w+|mmu_notifier_\w+|mmu_interval_notifier_\w+|xa_for_each\w*|for_each_\w+|idr_for_each\w*)$/;
/** Loop macros: a call statement followed by the body it repeats. */
const LOOP_MACRO =
  /(^|_)for_each(_|$)|^list_for_each|^hlist_for_each|^xa_for_each|^idr_for_each|^interval_tree_for_each|^drm_for_each|^mn_itree_for_each/;

/** Registrations of a notifier, after which its callbacks may run. */
const PUBLISH = /^(mmu_interval_notifier_insert\w*|(__)?mmu_notifier_register\w*|mmu_notifier_get\w*)$/;

/** The condition of a loop that ends only by `break`: `while (true)`, `while (1)`. */
const FOREVER = /^\(?\s*(true|1)\s*\)?$/;

/** Stores into an xarray (include/linux/xarray.h). */
const XA_STORE = /^(__)?xa_(store|insert|cmpxchg)(_\w+)?$/;
/** Erases from an xarray: `xa_erase`, or a store of NULL. */
export const XA_ERASE = /^(__)?xa_erase(_\w+)?$/;

/** How a driver call changes the device's view, from its name (see the guide's table). */
export function classify(name: string): OpClass {
  const n = name.toLowerCase();
  if (/dma_unmap|unmap_dma/.test(n)) return 'dma-unmap';
  if (/(^|_)dma_map(_|$)/.test(n)) return 'dma-map';
  if (/tlb/.test(n) && /(flush|inval|sync|shootdown)/.test(n)) return 'tlb';
  if (/inval/.test(n)) return 'invalidate';
  if (/evict|quiesce|suspend|stop_queues/.test(n)) return 'invalidate';
  if (/(zap|clear|unmap|_wp(_|$)|write_protect)/.test(n)) return 'revoke';
  if (/(^|_)(map|bind|set_pte|update_pte|populate|program|mthd)(_|$)/.test(n)) return 'program';
  return 'other';
}

/**
 * A constant among a call's arguments that names a clear of the device's translations: a method
 * or table update that says what it does by an argument, as nouveau's
 * `nvif_object_mthd(…, NVIF_VMM_V0_PFNCLR, …)` and mlx5's `mlx5r_umr_update_xlt(…,
 * MLX5_IB_UPD_XLT_ZAP | …)` do. The invalidation events (`MMU_NOTIFY_*`) are not such a constant.
 */
const CLEARING_CONSTANT = /^(?!MMU_NOTIFY_)[A-Z][A-Z0-9_]*?(^|_|PFN)(ZAP|CLR|CLEAR|UNMAP|INVAL|INVALIDATE)(_[A-Z0-9_]*)?$/;

/** A call that does what its arguments say: a device method, command, ioctl or table update. */
const GENERIC_DEVICE_CALL = /(^|_)(update|ioctl|mthd|method|cmd|exec|submit)(_|$)/i;

/**
 * The class of a generic device call by its arguments: `invalidate` when a constant among them
 * names a clear ({@link CLEARING_CONSTANT}). Such a call is a whole invalidation: the device's own
 * method flushes what it cleared (nvkm's PFNCLR, mlx5's UMR, which the driver waits for). Null
 * when no argument says.
 */
function classifyByArguments(args: readonly CNode[]): OpClass | null {
  for (const a of args)
    for (const t of textOf(a).match(/\b[A-Z][A-Z0-9_]{2,}\b/g) ?? []) if (CLEARING_CONSTANT.test(t)) return 'invalidate';
  return null;
}

/** Whether the value of call `x` is an operand of an enclosing expression or initializes a pointer (see the `op` effect). */
function isOperand(x: CNode): boolean {
  let p = x.parent;
  while (p !== null && (p.type === 'parenthesized_expression' || p.type === 'cast_expression')) p = p.parent;
  if (p === null) return false;
  if (p.type === 'init_declarator') return p.childForFieldName('declarator')?.type === 'pointer_declarator';
  return /^(argument_list|binary_expression|unary_expression|field_expression|subscript_expression|pointer_expression)$/.test(p.type);
}

/** Interpreter limits: paths per function, inlining depth, statements per function. */
const MAX_PATHS = 256;
const MAX_DEPTH = 6;
const MAX_STEPS = 20_000;

/** One path at its end. */
export interface CPath {
  readonly state: CState;
  readonly outcome: 'ok' | 'fail' | 'unknown';
  /** The returned value as text, or `?`. */
  readonly returned: string;
  readonly at: Site | undefined;
}

/** Runs functions of one set of files. */
export class CInterp {
  truncated = false;
  /**
   * The device's page tables that live in kernel data structures (test_hmm's `xa_store(&dmirror->pt,
   * …)`), by the folder of the driver: the last names of the xarrays its invalidate callbacks erase
   * from. A store into one of them programs the device. Filled by the analysis once the callbacks ran.
   */
  readonly deviceTables = new Map<string, Set<string>>();
  private steps = 0;

  private readonly fns: ReadonlyMap<string, FnDef>;
  private readonly commentsBefore: (n: CNode) => string[];

  constructor(fns: ReadonlyMap<string, FnDef>, commentsBefore: (n: CNode) => string[]) {
    this.fns = fns;
    this.commentsBefore = commentsBefore;
  }

  private site(fn: FnDef | undefined, n: CNode): Site {
    return { file: fn?.file ?? '', line: lineOf(n), text: textOf(n).slice(0, 160) };
  }

  /**
   * Every path of `fn`, started with parameters of the given kinds (`range`, `mni`).
   * `kind` says how returns are judged: a bool (interval invalidate), an int (0 is success), or void.
   */
  run(fn: FnDef, paramKinds: ReadonlyMap<number, Kind>, kind: 'bool' | 'int' | 'void'): CPath[] {
    this.truncated = false;
    this.steps = 0;
    const f: Frame = { kinds: new Map(), vals: new Map() };
    for (const [i, k] of paramKinds) {
      const p = fn.params[i];
      if (p !== undefined) f.kinds.set(p, k);
    }
    const s0: CState = {
      events: 0xff,
      own: undefined,
      blockable: undefined,
      decisions: [],
      held: [],
      effects: [],
      frames: [f],
      jumps: new Set(),
      depth: 0,
    };
    this.cur = fn;
    const body = fn.node.childForFieldName('body');
    const outs = body === null ? [{ s: s0, sig: NORMAL as Signal }] : this.execFnBody(body, s0);
    return outs.map((o) => {
      const value = o.sig.k === 'return' ? o.sig.value : undefined;
      const at = o.sig.k === 'return' ? o.sig.at : undefined;
      const returned = value ?? (o.sig.k === 'return' ? '?' : kind === 'void' ? 'void' : '?');
      return { state: o.s, outcome: judge(returned, kind), returned, at };
    });
  }

  private cur: FnDef | undefined;
  /** Parameters and locals declared as structs, by function node (the parsed trees live as long as the interpreter). */
  private readonly structs = new Map<number, Map<string, string>>();

  private limit(outs: Out[]): Out[] {
    if (outs.length <= MAX_PATHS) return outs;
    this.truncated = true;
    return outs.slice(0, MAX_PATHS);
  }

  /** A function body: gotos resolved against its labels, guards dropped at the end. */
  private execFnBody(body: CNode, s: CState): Out[] {
    const outs = this.execBlock(body, s);
    return outs.map((o) => (o.sig.k === 'goto' ? { s: o.s, sig: NORMAL } : o));
  }

  private execBlock(block: CNode, s0: CState): Out[] {
    const items = kids(block).filter((c) => c.type !== 'comment');
    s0.depth++;
    const depth = s0.depth;
    const closeScope = (o: Out): Out => {
      o.s.held = o.s.held.filter((h) => h.scope === undefined || h.scope < depth);
      o.s.depth = depth - 1;
      return o;
    };
    const runFrom = (start: number, s: CState): Out[] => {
      let live: { s: CState; i: number }[] = [{ s, i: start }];
      const done: Out[] = [];
      while (live.length > 0) {
        const next: { s: CState; i: number }[] = [];
        for (const { s: st, i } of live) {
          if (i >= items.length) {
            done.push({ s: st, sig: NORMAL });
            continue;
          }
          const item = items[i] as CNode;
          const loop = this.loopMacro(item, items[i + 1]);
          const outs = loop === undefined ? this.exec(item, st) : this.execLoopMacro(item, loop, st);
          const step = loop === undefined ? 1 : 2;
          for (const o of outs) {
            if (o.sig.k === 'normal') next.push({ s: o.s, i: i + step });
            else if (o.sig.k === 'goto') {
              const label = o.sig.label;
              const j = items.findIndex((c) => c.type === 'labeled_statement' && c.childForFieldName('label')?.text === label);
              if (j < 0) done.push(o);
              else if (o.s.jumps.has(`${label}@${j}`) && j <= i) continue;
              else {
                o.s.jumps.add(`${label}@${j}`);
                next.push({ s: o.s, i: j });
              }
            } else done.push(o);
          }
        }
        if (next.length > MAX_PATHS) this.truncated = true;
        live = next.slice(0, MAX_PATHS);
      }
      return done;
    };
    return this.limit(runFrom(0, s0).map(closeScope));
  }

  /** `list_for_each_entry(...)` followed by its body: the call, and the body it repeats. */
  private loopMacro(item: CNode, next: CNode | undefined): CNode | undefined {
    if (item.type !== 'expression_statement' || next === undefined) return undefined;
    const call = item.namedChildren[0];
    if (call?.type !== 'call_expression') return undefined;
    const name = call.childForFieldName('function')?.text ?? '';
    if (!LOOP_MACRO.test(name) && name !== 'scoped_guard') return undefined;
    if (!item.text.trimEnd().endsWith(')')) return undefined;
    return next;
  }

  private execLoopMacro(head: CNode, body: CNode, s: CState): Out[] {
    const call = head.namedChildren[0] as CNode;
    const name = call.childForFieldName('function')?.text ?? '';
    if (name === 'scoped_guard') {
      const args = kids(call.childForFieldName('arguments') as CNode);
      const lock = args[1];
      const kind = args[0]?.text ?? '';
      if (/^(mutex|rwsem_read|rwsem_write)$/.test(kind))
        s.effects.push({ t: 'sleep', at: this.site(this.cur, head), what: `scoped_guard(${kind})` });
      if (lock !== undefined) this.acquire(s, lock);
      const outs = this.exec(body, s);
      if (lock !== undefined) for (const o of outs) this.release(o.s, lock);
      return outs;
    }
    return this.loopBody(body, s);
  }

  /**
   * The body of a loop without an end condition (`while (true)`, `for (;;)`), run once: it ends
   * only by `break` (or a `return` or `goto` out of it). A path that reaches `continue` or the end
   * of the body goes round again, where the path from the top covers it.
   */
  private foreverBody(body: CNode | null, s: CState): Out[] {
    if (body === null) return [];
    const out: Out[] = [];
    for (const o of this.exec(body, s)) {
      if (o.sig.k === 'break') out.push({ s: o.s, sig: NORMAL });
      else if (o.sig.k !== 'continue' && o.sig.k !== 'normal') out.push(o);
    }
    return out;
  }

  /** A loop body run zero times or once; `break` and `continue` end the loop. */
  private loopBody(body: CNode | null, s: CState): Out[] {
    if (body === null) return [{ s, sig: NORMAL }];
    const once = this.exec(body, clone(s)).map((o) => (o.sig.k === 'break' || o.sig.k === 'continue' ? { s: o.s, sig: NORMAL } : o));
    return [{ s, sig: NORMAL }, ...once];
  }

  private exec(n: CNode, s: CState): Out[] {
    if (++this.steps > MAX_STEPS) {
      // Out of budget: the rest of the path is not interpreted, but the path is kept.
      this.truncated = true;
      s.cut = true;
      return [{ s, sig: NORMAL }];
    }
    switch (n.type) {
      case 'compound_statement':
        return this.execBlock(n, s);
      case 'expression_statement': {
        const e = n.namedChildren[0];
        if (e === null || e === undefined) return [{ s, sig: NORMAL }];
        return this.evalExpr(e, s).map(([st]) => ({ s: st, sig: NORMAL }));
      }
      case 'declaration':
        return this.execDecl(n, s);
      case 'return_statement': {
        const e = n.namedChildren[0];
        const at = this.site(this.cur, n);
        const values = e === null || e === undefined ? [[s, undefined] as [CState, string | undefined]] : this.evalExpr(e, s);
        return values.map(([st, v]) => {
          st.effects.push({ t: 'return', at, held: [...st.held], depth: st.frames.length - 1 });
          return { s: st, sig: { k: 'return', value: v, at } };
        });
      }
      case 'if_statement': {
        const cond = n.childForFieldName('condition') as CNode;
        const then = n.childForFieldName('consequence');
        const alt = n.childForFieldName('alternative');
        const out: Out[] = [];
        for (const [st, v] of this.evalCond(cond, s)) {
          if (v) out.push(...(then === null ? [{ s: st, sig: NORMAL }] : this.exec(then, st)));
          else if (alt !== null) out.push(...this.exec(alt, st));
          else out.push({ s: st, sig: NORMAL });
        }
        return this.limit(out);
      }
      case 'else_clause': {
        const b = n.namedChildren[0];
        return b === null || b === undefined ? [{ s, sig: NORMAL }] : this.exec(b, s);
      }
      case 'switch_statement':
        return this.execSwitch(n, s);
      case 'while_statement': {
        const cond = n.childForFieldName('condition') as CNode;
        if (FOREVER.test(textOf(cond))) return this.limit(this.foreverBody(n.childForFieldName('body'), s));
        const out: Out[] = [];
        for (const [st, v] of this.evalCond(cond, s)) {
          if (v) out.push(...this.loopBody(n.childForFieldName('body'), st).slice(1));
          else out.push({ s: st, sig: NORMAL });
        }
        return this.limit(out);
      }
      case 'do_statement': {
        const body = n.childForFieldName('body');
        const once = body === null ? [{ s, sig: NORMAL as Signal }] : this.exec(body, s);
        return once.map((o) => (o.sig.k === 'break' || o.sig.k === 'continue' ? { s: o.s, sig: NORMAL } : o));
      }
      case 'for_statement': {
        const init = n.childForFieldName('initializer');
        const starts =
          init === null
            ? [s]
            : init.type === 'declaration'
              ? this.execDecl(init, s).map((o) => o.s)
              : this.evalExpr(init, s).map(([st]) => st);
        const cond = n.childForFieldName('condition');
        if (cond === null || FOREVER.test(textOf(cond)))
          return this.limit(starts.flatMap((st) => this.foreverBody(n.childForFieldName('body'), st)));
        const out: Out[] = [];
        for (const st of starts) {
          const decided = cond === null ? [[st, true] as [CState, boolean]] : this.evalCond(cond, st);
          for (const [st2, v] of decided) {
            if (v) out.push(...this.loopBody(n.childForFieldName('body'), st2).slice(cond === null ? 1 : 0));
            else out.push({ s: st2, sig: NORMAL });
          }
        }
        return this.limit(out);
      }
      case 'labeled_statement': {
        const inner = n.namedChildren.filter((c) => c !== null && c.type !== 'statement_identifier');
        return inner.length === 0 ? [{ s, sig: NORMAL }] : this.exec(inner[0] as CNode, s);
      }
      case 'goto_statement':
        return [{ s, sig: { k: 'goto', label: n.childForFieldName('label')?.text ?? '' } }];
      case 'break_statement':
        return [{ s, sig: { k: 'break' } }];
      case 'continue_statement':
        return [{ s, sig: { k: 'continue' } }];
      default:
        return [{ s, sig: NORMAL }];
    }
  }

  private execDecl(n: CNode, s: CState): Out[] {
    let states: CState[] = [s];
    for (const d of kids(n)) {
      if (d.type !== 'init_declarator') continue;
      const name = declName(d.childForFieldName('declarator'));
      const value = d.childForFieldName('value');
      if (value === null) continue;
      const next: CState[] = [];
      for (const st of states) {
        for (const [st2, v] of this.evalExpr(value, st)) {
          this.bind(st2, name, value, v);
          next.push(st2);
        }
      }
      states = next;
    }
    return states.map((st) => ({ s: st, sig: NORMAL }));
  }

  /** Records what a local now stands for: a range, an event, the owner, or a known value. */
  private bind(s: CState, name: string | undefined, value: CNode, v: string | undefined): void {
    if (name === undefined) return;
    const f = frame(s);
    const k = this.kindOf(value, s);
    if (k !== undefined) f.kinds.set(name, k);
    else f.kinds.delete(name);
    if (v !== undefined) f.vals.set(name, v);
    else f.vals.delete(name);
    // What the path decided about the variable's old value says nothing of a call's result stored
    // in it (`ret = f(); if (ret) …` after an earlier `if (ret)`). Other stores (a loop's `addr =
    // next`) keep the decisions: forgetting them would unroll every loop to the path budget.
    if (strip(value).type === 'call_expression') {
      const word = new RegExp(`(^|[^A-Za-z0-9_>.])${name}($|[^A-Za-z0-9_])`);
      if (s.decisions.some((d) => word.test(d.text))) s.decisions = s.decisions.filter((d) => !word.test(d.text));
    }
  }

  /** What an expression stands for: `range`, `range->event`, `range->owner`, `mni`. */
  private kindOf(e: CNode, s: CState): Kind | undefined {
    const x = strip(e);
    if (x.type === 'identifier') return frame(s).kinds.get(x.text);
    if (x.type === 'field_expression') {
      const base = x.childForFieldName('argument');
      const field = x.childForFieldName('field')?.text;
      if (base !== null && this.kindOf(base, s) === 'range') {
        if (field === 'event') return 'event';
        if (field === 'owner' || field === 'migrate_pgmap_owner') return 'owner';
      }
    }
    if (x.type === 'pointer_expression') {
      const a = x.childForFieldName('argument');
      if (a !== null) return this.kindOf(a, s);
    }
    return undefined;
  }

  private execSwitch(n: CNode, s: CState): Out[] {
    const cond = strip(n.childForFieldName('condition') as CNode);
    const body = n.childForFieldName('body') as CNode;
    const cases = kids(body).filter((c) => c.type === 'case_statement');
    const onEvent = this.kindOf(cond, s) === 'event';
    const labelOf = (c: CNode) => c.childForFieldName('value');
    const all = cases.map(labelOf).filter((v): v is CNode => v !== null);
    const setOf = (vs: readonly CNode[]) => vs.reduce((m, v) => m | (EVENT_BITS.get(v.text) ?? 0), 0);
    const entries: { start: number; st: CState }[] = [];
    for (const [i, c] of cases.entries()) {
      const v = labelOf(c);
      const st = clone(s);
      if (onEvent) {
        const set = v === null ? 0xff & ~setOf(all) : setOf([v]);
        if ((st.events & set) === 0) continue;
        st.events &= set;
        if (!this.eventKnown(st)) continue;
        st.effects.push({ t: 'event-test', at: this.site(this.cur, c), comments: this.commentsOf(c) });
      } else {
        const text = v === null ? `switch (${textOf(cond)}) default` : `${textOf(cond)} == ${v.text}`;
        if (!this.decide(st, text, true)) continue;
      }
      entries.push({ start: i, st });
    }
    if (!cases.some((c) => labelOf(c) === null)) {
      const st = clone(s);
      let ok = true;
      if (onEvent) {
        st.events &= ~setOf(all);
        ok = st.events !== 0 && this.eventKnown(st);
        if (ok) st.effects.push({ t: 'event-test', at: this.site(this.cur, n), comments: this.commentsOf(n) });
      } else ok = this.decide(st, `switch (${textOf(cond)}) no case`, true);
      if (ok) entries.push({ start: cases.length, st });
    }
    const out: Out[] = [];
    for (const { start, st } of entries) {
      let live: CState[] = [st];
      for (const c of cases.slice(start)) {
        const next: CState[] = [];
        const stmts = kids(c).filter((x) => x !== labelOf(c) && x.type !== 'comment');
        for (const l of live) {
          let cur: Out[] = [{ s: l, sig: NORMAL }];
          for (const stmt of stmts) {
            const nx: Out[] = [];
            for (const o of cur) {
              if (o.sig.k !== 'normal') nx.push(o);
              else nx.push(...this.exec(stmt, o.s));
            }
            cur = this.limit(nx);
          }
          for (const o of cur) {
            if (o.sig.k === 'normal') next.push(o.s);
            else if (o.sig.k === 'break') out.push({ s: o.s, sig: NORMAL });
            else out.push(o);
          }
        }
        live = next;
      }
      for (const l of live) out.push({ s: l, sig: NORMAL });
    }
    return this.limit(out);
  }

  /** Keeps blockability and the events consistent: only the OOM reaper's UNMAP is non-blockable. */
  private eventKnown(s: CState): boolean {
    if ((s.events & NONBLOCKABLE_EVENTS) === 0) {
      if (s.blockable === false) return false;
    }
    return s.events !== 0;
  }

  /** Decides a test by its text, once per path: false if the path cannot take `value`. */
  private decide(s: CState, text: string, value: boolean): boolean {
    const known = s.decisions.find((d) => d.text === text);
    if (known !== undefined) return known.value === value;
    s.decisions.push({ text, value });
    return true;
  }

  private commentsOf(n: CNode): string[] {
    const own = n.descendantsOfType('comment').map((c) => (c === null ? '' : c.text));
    return [...this.commentsBefore(n), ...own];
  }

  /** The truth of a condition on each path. */
  private evalCond(e: CNode, s: CState): [CState, boolean][] {
    const x = strip(e);
    if (x.type === 'unary_expression' && x.childForFieldName('operator')?.text === '!') {
      return this.evalCond(x.childForFieldName('argument') as CNode, s).map(([st, v]) => [st, !v]);
    }
    if (x.type === 'binary_expression') {
      const op = x.childForFieldName('operator')?.text;
      const l = x.childForFieldName('left') as CNode;
      const r = x.childForFieldName('right') as CNode;
      if (op === '&&' || op === '||') {
        const out: [CState, boolean][] = [];
        for (const [st, v] of this.evalCond(l, s)) {
          if (v === (op === '||')) out.push([st, v]);
          else out.push(...this.evalCond(r, st));
        }
        return out;
      }
      if (op === '==' || op === '!=') {
        const special = this.compare(x, l, r, op === '==', s) ?? this.compare(x, r, l, op === '==', s);
        if (special !== undefined) return special;
      }
    }
    if (this.kindOf(x, s) === 'owner') {
      s.effects.push({ t: 'owner-test', at: this.site(this.cur, x), events: s.events });
      return this.ownerNull(s, false);
    }
    if (x.type === 'call_expression' && /^(likely|unlikely)$/.test(x.childForFieldName('function')?.text ?? '')) {
      const inner = kids(x.childForFieldName('arguments') as CNode)[0];
      if (inner !== undefined) return this.evalCond(inner, s);
    }
    const out: [CState, boolean][] = [];
    for (const [st, v] of this.evalExpr(x, s)) {
      if (v !== undefined && /^-?\d+$|^(true|false)$/.test(v)) out.push([st, v !== '0' && v !== 'false']);
      else {
        const text = textOf(x);
        for (const value of [true, false]) {
          const c = clone(st);
          if (this.decide(c, text, value)) out.push([c, value]);
        }
      }
    }
    return out;
  }

  /** `range->event == X`, `range->owner == X`: forks on what the kernel decides. */
  private compare(x: CNode, a: CNode, b: CNode, eq: boolean, s: CState): [CState, boolean][] | undefined {
    const k = this.kindOf(a, s);
    if (k === 'event') {
      const bit = EVENT_BITS.get(strip(b).text);
      if (bit === undefined) return undefined;
      const out: [CState, boolean][] = [];
      for (const match of [true, false]) {
        const st = clone(s);
        st.events &= match ? bit : ~bit;
        if (st.events === 0 || !this.eventKnown(st)) continue;
        st.effects.push({ t: 'event-test', at: this.site(this.cur, x), comments: this.commentsOf(enclosingStatement(x)) });
        out.push([st, match === eq]);
      }
      return out;
    }
    if (k === 'owner') {
      const out: [CState, boolean][] = [];
      s.effects.push({ t: 'owner-test', at: this.site(this.cur, x), events: s.events });
      // `range->owner == NULL` tells an owner from none, not this device's owner from another's.
      if (/^(NULL|0|\(void \*\) ?0)$/.test(strip(b).text)) return this.ownerNull(s, eq);
      for (const own of [true, false]) {
        if (s.own !== undefined && s.own !== own) continue;
        const st = clone(s);
        st.own = own;
        out.push([st, own === eq]);
      }
      return out;
    }
    return undefined;
  }

  /** A test of `range->owner` against NULL: true on the path where it `is` NULL. */
  private ownerNull(s: CState, is: boolean): [CState, boolean][] {
    const out: [CState, boolean][] = [];
    for (const value of [true, false]) {
      const st = clone(s);
      if (this.decide(st, 'range->owner == NULL', value)) out.push([st, value === is]);
    }
    return out;
  }

  /**
   * `struct NAME` of a parameter or local `id` of the function being interpreted, declared as a pointer to a
   * struct, by its declaration. Not a struct the function holds by value (its own, not shared),
   * nor one the function allocated (`node = kzalloc(...)`: it fills the new object in before it
   * publishes it).
   */
  private structOf(id: CNode): string | undefined {
    // The function being interpreted is the one the access is in (an inlined one sets `cur`).
    const fn = this.cur?.node;
    if (fn === undefined || fn.type !== 'function_definition') return undefined;
    let known = this.structs.get(fn.id);
    if (known === undefined) {
      known = new Map();
      this.structs.set(fn.id, known);
      for (const d of [...fn.descendantsOfType('parameter_declaration'), ...fn.descendantsOfType('declaration')]) {
        const type = d?.childForFieldName('type');
        const tag = type?.type === 'struct_specifier' ? type.childForFieldName('name')?.text : undefined;
        if (d === null || tag === undefined) continue;
        for (const c of d.namedChildren) {
          if (c === null || c.type === 'struct_specifier') continue;
          const decl = c.type === 'init_declarator' ? c.childForFieldName('declarator') : c;
          const n = declName(decl);
          if (n !== undefined && decl?.type === 'pointer_declarator' && !known.has(n)) known.set(n, `struct ${tag}`);
        }
      }
      for (const a of fn.descendantsOfType(['assignment_expression', 'init_declarator'])) {
        const value = a?.childForFieldName(a.type === 'init_declarator' ? 'value' : 'right');
        const fresh = value !== null && value !== undefined && ALLOCATES.test(calleeOf(value) ?? '');
        const n = a?.type === 'init_declarator' ? declName(a.childForFieldName('declarator')) : a?.childForFieldName('left')?.text;
        if (fresh && n !== undefined) known.delete(n);
      }
    }
    return known.get(id.text);
  }

  /**
   * Records a plain access to `p->f` or `p.f` when `p` is a parameter or local declared as a
   * struct (`struct dmirror *dmirror`): the field is keyed by the struct. An address taken
   * (`&p->lock`, a lock or a list head handed to a helper) and the marked accesses of
   * `READ_ONCE`/`WRITE_ONCE` are not plain accesses.
   */
  private touchField(s: CState, x: CNode, write: boolean): void {
    const base = x.childForFieldName('argument');
    const name = x.childForFieldName('field')?.text;
    if (base === null || name === undefined || strip(base).type !== 'identifier') return;
    const parent = x.parent;
    if (parent?.type === 'pointer_expression' && parent.childForFieldName('operator')?.text === '&') return;
    const call = parent?.type === 'argument_list' ? parent.parent : null;
    if (
      call?.type === 'call_expression' &&
      /^(READ_ONCE|WRITE_ONCE|smp_load_acquire|smp_store_release)$/.test(call.childForFieldName('function')?.text ?? '')
    )
      return;
    const struct = this.structOf(strip(base));
    if (struct === undefined) return;
    s.effects.push({ t: 'field', at: this.site(this.cur, x), field: `${struct}.${name}`, write, held: [...s.held] });
  }

  /** Effects of an expression on each path, with its value when known (a literal). */
  private evalExpr(e: CNode, s: CState): [CState, string | undefined][] {
    const x = strip(e);
    if (x.type === 'field_expression') this.touchField(s, x, false);
    else if (x.type === 'update_expression') {
      // `p->count++`: a write (the read is the operand's, below).
      const arg = strip(x.childForFieldName('argument') as CNode);
      if (arg.type === 'field_expression') this.touchField(s, arg, true);
    }
    switch (x.type) {
      case 'true':
        return [[s, 'true']];
      case 'false':
        return [[s, 'false']];
      case 'number_literal':
        return [[s, x.text.replace(/[uUlL]+$/, '')]];
      case 'null':
        return [[s, '0']];
      case 'identifier': {
        const v = frame(s).vals.get(x.text);
        if (v !== undefined) return [[s, v]];
        if (x.text === 'NULL') return [[s, '0']];
        return [[s, undefined]];
      }
      case 'unary_expression': {
        const op = x.childForFieldName('operator')?.text;
        const arg = x.childForFieldName('argument') as CNode;
        if (op === '-' && strip(arg).type === 'identifier' && /^E[A-Z0-9]+$/.test(strip(arg).text)) return [[s, `-${strip(arg).text}`]];
        if (op === '!') {
          return this.evalCond(x, s).map(([st, v]) => [st, v ? '1' : '0']);
        }
        return this.evalExpr(arg, s).map(([st, v]) => [st, v !== undefined && op === '-' && /^\d+$/.test(v) ? `-${v}` : undefined]);
      }
      case 'binary_expression': {
        const op = x.childForFieldName('operator')?.text ?? '';
        const l = x.childForFieldName('left') as CNode;
        const r = x.childForFieldName('right') as CNode;
        if (op === '&&' || op === '||') return this.evalCond(x, s).map(([st, v]) => [st, v ? '1' : '0']);
        if (op === '==' || op === '!=') {
          const special = this.compare(x, l, r, op === '==', s) ?? this.compare(x, r, l, op === '==', s);
          if (special !== undefined) return special.map(([st, v]) => [st, v ? '1' : '0']);
        }
        const out: [CState, string | undefined][] = [];
        for (const [st, lv] of this.evalExpr(l, s)) {
          for (const [st2, rv] of this.evalExpr(r, st)) {
            const known = lv !== undefined && rv !== undefined && (op === '==' || op === '!=');
            out.push([st2, known ? ((lv === rv) === (op === '==') ? '1' : '0') : undefined]);
          }
        }
        return out;
      }
      case 'assignment_expression': {
        const left = x.childForFieldName('left') as CNode;
        const right = x.childForFieldName('right') as CNode;
        const op = x.childForFieldName('operator')?.text;
        return this.evalExpr(right, s).map(([st, v]) => {
          if (left.type === 'identifier') this.bind(st, left.text, right, op === '=' ? v : undefined);
          else if (strip(left).type === 'field_expression') this.touchField(st, strip(left), true);
          return [st, v];
        });
      }
      case 'conditional_expression': {
        const out: [CState, string | undefined][] = [];
        for (const [st, v] of this.evalCond(x.childForFieldName('condition') as CNode, s)) {
          const branch = x.childForFieldName(v ? 'consequence' : 'alternative');
          out.push(...(branch === null ? [[st, undefined] as [CState, string | undefined]] : this.evalExpr(branch, st)));
        }
        return out;
      }
      case 'call_expression':
        return this.evalCall(x, s);
      case 'update_expression': {
        // `range++`: whatever value the local was known to hold, it holds another now.
        const arg = strip(x.childForFieldName('argument') as CNode);
        return this.evalExpr(arg, s).map(([st]) => {
          if (arg.type === 'identifier') frame(st).vals.delete(arg.text);
          return [st, undefined];
        });
      }
      case 'comma_expression': {
        let states: [CState, string | undefined][] = [[s, undefined]];
        for (const c of kids(x)) states = states.flatMap(([st]) => this.evalExpr(c, st));
        return states;
      }
      default: {
        // Field accesses, casts, pointers, sizeof: evaluate calls inside them for their effects.
        let states: [CState, string | undefined][] = [[s, undefined]];
        for (const c of kids(x)) {
          if (c.type === 'type_descriptor' || c.type === 'field_identifier') continue;
          states = states.flatMap(([st]) => this.evalExpr(c, st).map(([st2]) => [st2, undefined] as [CState, string | undefined]));
        }
        return states;
      }
    }
  }

  private acquire(s: CState, lock: CNode, scope?: number, trylock = false): void {
    const key = lockKey(lock);
    const struct = this.lockStruct(lock);
    const h: Held = {
      key,
      name: lastName(key),
      at: this.site(this.cur, lock),
      ...(scope === undefined ? {} : { scope }),
      ...(struct === undefined ? {} : { struct }),
    };
    s.held.push(h);
    s.effects.push({
      t: 'acquire',
      at: h.at,
      key,
      ...(trylock ? { trylock: true as const } : {}),
      ...(struct === undefined ? {} : { struct }),
    });
  }

  /** The struct a lock is a field of (`&svms->lock` → `struct svm_range_list`), by the declaration of its pointer. */
  private lockStruct(lock: CNode): string | undefined {
    let x = strip(lock);
    if (x.type === 'pointer_expression' && x.childForFieldName('operator')?.text === '&')
      x = strip(x.childForFieldName('argument') as CNode);
    const base = x.type === 'field_expression' ? x.childForFieldName('argument') : null;
    return base !== null && strip(base).type === 'identifier' ? this.structOf(strip(base)) : undefined;
  }

  private release(s: CState, lock: CNode): void {
    const key = lockKey(lock);
    const i = s.held.findIndex((h) => h.key === key);
    const j = i >= 0 ? i : s.held.findIndex((h) => h.name === lastName(key));
    if (j >= 0) s.held.splice(j, 1);
    s.effects.push({ t: 'release', at: this.site(this.cur, lock), key, name: lastName(key) });
  }

  private evalCall(x: CNode, s: CState): [CState, string | undefined][] {
    const fnNode = x.childForFieldName('function') as CNode;
    const args = kids(x.childForFieldName('arguments') as CNode).filter((a) => a.type !== 'comment');
    // guard(mutex)(&lock): held to the end of the enclosing block.
    if (fnNode.type === 'call_expression' && fnNode.childForFieldName('function')?.text === 'guard') {
      const kind = kids(fnNode.childForFieldName('arguments') as CNode)[0]?.text ?? '';
      if (/^(mutex|rwsem_read|rwsem_write|mmap_read_lock|mmap_write_lock)$/.test(kind))
        s.effects.push({ t: 'sleep', at: this.site(this.cur, x), what: `guard(${kind})` });
      if (args[0] !== undefined) this.acquire(s, args[0], s.depth);
      return [[s, undefined]];
    }
    const name = fnNode.type === 'identifier' ? fnNode.text : '';
    const at = this.site(this.cur, x);
    // Arguments first, for their effects (calls inside them).
    let states: CState[] = [s];
    for (const a of args) {
      if (!hasCall(a)) continue;
      states = states.flatMap((st) => this.evalExpr(a, st).map(([st2]) => st2));
    }
    const out: [CState, string | undefined][] = [];
    for (const st of states) out.push(...this.callEffects(name, x, args, at, st));
    return out;
  }

  private callEffects(name: string, x: CNode, args: readonly CNode[], at: Site, s: CState): [CState, string | undefined][] {
    if (SLEEPS.test(name))
      s.effects.push({
        t: 'sleep',
        at,
        what: `${name}()`,
        target: args[0] === undefined ? '' : textOf(args[0]),
        depth: s.frames.length - 1,
      });
    const lock = args[0];
    if (ACQUIRE.test(name) && lock !== undefined) {
      this.acquire(s, lock);
      return [[s, undefined]];
    }
    if (ACQUIRE_INTR.test(name) && lock !== undefined) {
      const ok = clone(s);
      this.acquire(ok, lock);
      this.decide(ok, `${name}(${textOf(lock)})`, false);
      const intr = clone(s);
      this.decide(intr, `${name}(${textOf(lock)})`, true);
      return [
        [ok, '0'],
        [intr, '-EINTR'],
      ];
    }
    if (RELEASE.test(name) && lock !== undefined) {
      this.release(s, lock);
      return [[s, undefined]];
    }
    if (TRYLOCK.test(name) && lock !== undefined) {
      const text = `${name}(${textOf(lock)})`;
      const out: [CState, string | undefined][] = [];
      for (const got of [true, false]) {
        const st = clone(s);
        if (!this.decide(st, text, got)) continue;
        if (got) this.acquire(st, lock, undefined, true);
        out.push([st, got ? '1' : '0']);
      }
      return out;
    }
    // A driver's own lock wrapper the files do not define (`svm_range_lock(prange)` from a header).
    const wrapper = /^(\w+_)(un)?lock$/.exec(name);
    if (wrapper !== null && !this.fns.has(name) && lock !== undefined) {
      const key = `${textOf(lock)} (${wrapper[1]}lock)`;
      const at2 = this.site(this.cur, x);
      if (wrapper[2] === undefined) {
        const h: Held = { key, name: `${wrapper[1]}lock`, at: at2 };
        s.held.push(h);
        s.effects.push({ t: 'acquire', at: at2, key });
      } else {
        const i = s.held.findIndex((h) => h.key === key);
        if (i >= 0) s.held.splice(i, 1);
        s.effects.push({ t: 'release', at: at2, key, name: `${wrapper[1]}lock` });
      }
      return [[s, undefined]];
    }
    if (name === 'mmu_notifier_range_blockable') {
      const out: [CState, string | undefined][] = [];
      for (const b of [true, false]) {
        if (s.blockable !== undefined && s.blockable !== b) continue;
        const st = clone(s);
        st.blockable = b;
        if (!b) st.events &= NONBLOCKABLE_EVENTS;
        if (st.events === 0) continue;
        st.decisions.push({ text: 'mmu_notifier_range_blockable(range)', value: b });
        out.push([st, b ? '1' : '0']);
      }
      return out;
    }
    if (name === 'mmu_interval_set_seq') {
      s.effects.push({ t: 'set-seq', at, held: [...s.held] });
      return [[s, undefined]];
    }
    if (name === 'mmu_interval_read_begin') {
      // It waits for the invalidations in progress (wait_event), and starts what the retry checks.
      s.effects.push({ t: 'sleep', at, what: 'mmu_interval_read_begin()' });
      return [[s, undefined]];
    }
    if (name === 'mmu_interval_read_retry') {
      s.effects.push({ t: 'read-retry', at, held: [...s.held] });
      const out: [CState, string | undefined][] = [];
      for (const v of [true, false]) {
        const st = clone(s);
        if (this.decide(st, textOf(x), v)) out.push([st, v ? '1' : '0']);
      }
      return out;
    }
    if (PUBLISH.test(name)) {
      s.effects.push({ t: 'publish', at, fn: name });
      return [[s, undefined]];
    }
    if (name === 'mmu_interval_notifier_remove' || name === 'mmu_notifier_unregister') {
      s.effects.push({ t: 'unregister', at, fn: name, held: [...s.held] });
      return [[s, undefined]];
    }
    const macro = /^[A-Z][A-Z0-9_]*$/.test(name) && classify(name) === 'other';
    if (name === '' || macro || NEUTRAL.test(name) || SLEEPS.test(name) || LOOP_MACRO.test(name) || name === 'scoped_guard')
      return [[s, undefined]];
    const def = this.fns.get(name);
    const target = args[0] === undefined ? '' : textOf(args[0]);
    const inline =
      def !== undefined && s.frames.length <= MAX_DEPTH && this.steps < MAX_STEPS / 2 && !s.frames.some((f) => f.vals.get('\0fn') === name);
    s.effects.push({
      t: 'op',
      at,
      name,
      target,
      cls: this.classifyCall(name, target, args),
      inlined: inline,
      defined: def !== undefined,
      depth: s.frames.length - 1,
      held: [...s.held],
      operand: isOperand(x),
    });
    if (!inline || def === undefined) return [[s, undefined]];
    return this.inline(def, args, s);
  }

  /**
   * {@link classify}, a store into one of the driver's {@link CInterp.deviceTables} as `program`,
   * and a generic device call (one that programs the device, or a method, command or update) by
   * its arguments ({@link classifyByArguments}).
   */
  private classifyCall(name: string, target: string, args: readonly CNode[]): OpClass {
    if (XA_STORE.test(name) && this.cur !== undefined) {
      if (this.deviceTables.get(dirname(this.cur.file))?.has(lastName(target)) === true) return 'program';
    }
    const cls = classify(name);
    return cls === 'program' || (cls === 'other' && GENERIC_DEVICE_CALL.test(name)) ? (classifyByArguments(args) ?? cls) : cls;
  }

  private inline(def: FnDef, args: readonly CNode[], s: CState): [CState, string | undefined][] {
    const f: Frame = { kinds: new Map(), vals: new Map([['\0fn', def.name]]) };
    for (const [i, p] of def.params.entries()) {
      const a = args[i];
      if (a === undefined) continue;
      const k = this.kindOf(a, s);
      if (k !== undefined) f.kinds.set(p, k);
      const v = strip(a).type === 'identifier' ? frame(s).vals.get(strip(a).text) : undefined;
      if (v !== undefined) f.vals.set(p, v);
      else if (/^(true|false|-?\d+)$/.test(strip(a).text)) f.vals.set(p, strip(a).text);
    }
    const caller = this.cur;
    const depth = s.depth;
    s.frames.push(f);
    this.cur = def;
    const body = def.node.childForFieldName('body');
    const outs = body === null ? [{ s, sig: NORMAL as Signal }] : this.execFnBody(body, s);
    this.cur = caller;
    // A helper's own tests of driver state stay inside it: its paths that end alike (same kernel
    // knowledge, locks, effects and value) are one path for the caller.
    const decided = s.decisions.length;
    const effects = s.effects.length;
    const merged = new Map<string, [CState, string | undefined]>();
    for (const o of outs) {
      o.s.frames.pop();
      o.s.depth = depth;
      const v = o.sig.k === 'return' ? o.sig.value : undefined;
      // Trylocks stay: whether the lock was taken is what the caller's table shows.
      const inner = o.s.decisions
        .slice(decided)
        .filter((d) => !d.text.startsWith('mmu_notifier_range_blockable') && !/trylock/.test(d.text));
      o.s.decisions = o.s.decisions.filter((d) => !inner.includes(d));
      const key = JSON.stringify([
        o.s.events,
        o.s.own,
        o.s.blockable,
        o.s.decisions,
        o.s.held.map((h) => h.key),
        o.s.effects
          .slice(effects)
          .filter((e) => e.t !== 'field')
          .map((e) => `${e.t}:${e.at.line}`),
        v,
      ]);
      // Field accesses do not split paths: the one kept gathers those of the paths it stands for.
      const kept = merged.get(key);
      if (kept === undefined) merged.set(key, [o.s, v]);
      else {
        const has = new Set(kept[0].effects.map((e) => (e.t === 'field' ? `${e.field}:${e.write}:${e.at.line}` : '')));
        for (const e of o.s.effects.slice(effects))
          if (e.t === 'field' && !has.has(`${e.field}:${e.write}:${e.at.line}`)) kept[0].effects.push(e);
      }
    }
    return [...merged.values()];
  }
}

/** Whether a callback path succeeded, failed, or returned something unknown. */
function judge(v: string, kind: 'bool' | 'int' | 'void'): 'ok' | 'fail' | 'unknown' {
  if (kind === 'void') return 'ok';
  if (kind === 'bool') return v === 'true' || v === '1' ? 'ok' : v === 'false' || v === '0' ? 'fail' : 'unknown';
  return v === '0' ? 'ok' : /^-/.test(v) ? 'fail' : 'unknown';
}

/** Allocators whose result is a new object nobody else sees yet. */
const ALLOCATES = /^(k[mvz]?alloc\w*|kv[mz]?alloc\w*|k[v]?calloc|kmem_cache_z?alloc\w*|devm_k[mz]alloc\w*|v[mz]?alloc\w*|kmemdup)$/;

/** The function a call (under casts and parentheses) names, or undefined. */
function calleeOf(e: CNode): string | undefined {
  let x = strip(e);
  while (x.type === 'cast_expression') x = strip(x.childForFieldName('value') as CNode);
  return x.type === 'call_expression' ? x.childForFieldName('function')?.text : undefined;
}

function strip(e: CNode): CNode {
  let x = e;
  while (x.type === 'parenthesized_expression' && x.namedChildren[0]) x = x.namedChildren[0] as CNode;
  return x;
}

function hasCall(n: CNode): boolean {
  return n.type === 'call_expression' || n.descendantsOfType('call_expression').length > 0;
}

/** The statement holding `n` (its comments explain the test). */
function enclosingStatement(n: CNode): CNode {
  let x: CNode = n;
  while (!/_statement$|^declaration$/.test(x.type) && x.parent !== null) x = x.parent;
  return x;
}

/** The name a declarator declares (`*p`, `a[3]`, `f(…)` → `p`, `a`, `f`). */
export function declName(d: CNode | null): string | undefined {
  let x = d;
  while (x !== null && x.type !== 'identifier') {
    const inner = x.childForFieldName('declarator');
    if (inner === null) return undefined;
    x = inner;
  }
  return x?.text;
}

/** A lock's key: its expression without `&` (`&dmirror->mutex` → `dmirror->mutex`). */
function lockKey(n: CNode): string {
  return textOf(n)
    .replace(/^&\s*/, '')
    .replace(/^\((.*)\)$/, '$1');
}

/** The last name of a lock or field expression (`dmirror->mutex` → `mutex`). */
export function lastName(key: string): string {
  const m = key.match(/([A-Za-z_]\w*)\W*$/);
  return m?.[1] ?? key;
}
