/**
 * `hmmlab init <dir> --from <file.c>`: a TypeScript driver skeleton whose notifier callbacks
 * mirror the C callbacks' decision structure: the same tests of `range->event`, the owner and
 * blockability, the same locks (a `kernel.mutex` per C lock), `mmu_interval_set_seq`, the same
 * returns. Tests of driver state become `driverState['<C test>']` and device operations become
 * TODOs (a device PTE clear or TLB flush, judged by the C function's name, is written as
 * `vm.clearRange` / `vm.flushTlb` with the C call beside it), so the author starts the model from
 * the real code.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AnalyzeError } from '../internal/errors.js';
import { checkTarget } from '../internal/init/target.js';
import { classify, declName, type FnDef } from './interp.js';
import { type CNode, cParser, kids, lineOf, textOf } from './parse.js';

/** What {@link initFromC} wrote. */
export interface InitFromCResult {
  /** The skeleton's path. */
  readonly file: string;
  /** Callbacks translated. */
  readonly callbacks: number;
  /** TODOs left for device operations and driver state. */
  readonly todos: number;
}

const EVENT = /^MMU_NOTIFY_[A-Z_]+$/;

interface Ctx {
  readonly kind: 'interval' | 'start';
  readonly ranges: Set<string>;
  readonly events: Set<string>;
  readonly locks: Map<string, string>;
  /** Functions the C file defines, and the file's name. */
  readonly helpers: ReadonlySet<string>;
  readonly source: string;
  todos: number;
  /** The lock most recently taken, in the order of the C text. */
  taken?: string;
  /** The lock taken last before the first `mmu_interval_set_seq`: the notifier lock. */
  seqLock?: string;
}

function ident(s: string): string {
  const id = s.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(id) ? `_${id}` : id;
}

function lockVar(ctx: Ctx, lock: CNode): string {
  const key = textOf(lock).replace(/^&\s*/, '');
  let v = ctx.locks.get(key);
  if (v === undefined) {
    v = `lock_${ident(key)}`;
    ctx.locks.set(key, v);
  }
  return v;
}

/** {@link lockVar} of a lock the C code takes here. */
function takeLock(ctx: Ctx, lock: CNode): string {
  ctx.taken = lockVar(ctx, lock);
  return ctx.taken;
}

function strip(e: CNode): CNode {
  let x = e;
  while (x.type === 'parenthesized_expression' && x.namedChildren[0]) x = x.namedChildren[0] as CNode;
  return x;
}

function isRangeField(ctx: Ctx, e: CNode, field: string): boolean {
  const x = strip(e);
  if (x.type === 'identifier' && field === 'event') return ctx.events.has(x.text);
  if (x.type !== 'field_expression') return false;
  const base = x.childForFieldName('argument');
  return base?.type === 'identifier' && ctx.ranges.has(base.text) && x.childForFieldName('field')?.text === field;
}

function callName(e: CNode): string {
  const f = e.type === 'call_expression' ? e.childForFieldName('function') : null;
  return f?.type === 'identifier' ? f.text : '';
}

/** The arguments of a call; none for any other expression. */
function args(e: CNode): CNode[] {
  const list = e.childForFieldName('arguments');
  return list === null ? [] : kids(list).filter((a) => a.type !== 'comment');
}

/** A C condition as TypeScript. */
function cond(ctx: Ctx, e: CNode): string {
  const x = strip(e);
  if (x.type === 'unary_expression' && x.childForFieldName('operator')?.text === '!')
    return `!(${cond(ctx, x.childForFieldName('argument') as CNode)})`;
  if (x.type === 'binary_expression') {
    const op = x.childForFieldName('operator')?.text ?? '';
    const l = x.childForFieldName('left') as CNode;
    const r = x.childForFieldName('right') as CNode;
    if (op === '&&' || op === '||') return `(${cond(ctx, l)} ${op} ${cond(ctx, r)})`;
    if (op === '==' || op === '!=') {
      const ts = op === '==' ? '===' : '!==';
      for (const [a, b] of [
        [l, r],
        [r, l],
      ] as const) {
        if (isRangeField(ctx, a, 'event') && EVENT.test(strip(b).text)) return `range.event ${ts} ${strip(b).text}`;
        if (isRangeField(ctx, a, 'owner') || isRangeField(ctx, a, 'migrate_pgmap_owner')) return `range.owner ${ts} dev.owner`;
      }
    }
  }
  const name = callName(x);
  if (name === 'mmu_notifier_range_blockable') return 'mmuNotifierRangeBlockable(range)';
  if (/trylock$/.test(name) && args(x)[0] !== undefined) return `${takeLock(ctx, args(x)[0] as CNode)}.tryLock()`;
  ctx.todos++;
  // A truth test, not `=== true`: C may test the same text again after changing what it reads
  // (`r = f(); if (r) return …; r = g(); if (r) …`), which TypeScript's narrowing of the entry
  // after the first test would call a comparison that can never hold.
  return `driverState[${JSON.stringify(textOf(x))}]`;
}

/** A C statement as TypeScript lines. */
function stmt(ctx: Ctx, n: CNode, ind: string): string[] {
  const c = (s: string) => `${ind}${s}`;
  switch (n.type) {
    case 'compound_statement':
      return kids(n).flatMap((k) => stmt(ctx, k, ind));
    case 'comment':
      return n.text.split('\n').map((l) => c(l.trim().startsWith('*') ? ` ${l.trim()}` : l.trim()));
    case 'declaration': {
      for (const d of kids(n)) {
        const v = d.type === 'init_declarator' ? d.childForFieldName('value') : null;
        const name = d.type === 'init_declarator' ? declName(d.childForFieldName('declarator')) : undefined;
        if (v !== null && name !== undefined && isRangeField(ctx, v, 'event')) ctx.events.add(name);
      }
      return [c(`// C: ${textOf(n)}`)];
    }
    case 'if_statement': {
      const then = n.childForFieldName('consequence');
      const alt = n.childForFieldName('alternative');
      const out = [
        c(`if (${cond(ctx, n.childForFieldName('condition') as CNode)}) {`),
        ...(then === null ? [] : stmt(ctx, then, `${ind}  `)),
      ];
      const inner = alt === null ? null : (alt.namedChildren[0] ?? null);
      if (inner !== null) out.push(c('} else {'), ...stmt(ctx, inner, `${ind}  `));
      out.push(c('}'));
      return out;
    }
    case 'switch_statement': {
      const on = n.childForFieldName('condition') as CNode;
      const body = n.childForFieldName('body') as CNode;
      const isEvent = isRangeField(ctx, on, 'event');
      const out = [c(isEvent ? 'switch (range.event) {' : `switch (driverValue(${JSON.stringify(textOf(on))})) {`)];
      if (!isEvent) ctx.todos++;
      for (const cs of kids(body).filter((k) => k.type === 'case_statement')) {
        const v = cs.childForFieldName('value');
        out.push(c(v === null ? '  default:' : isEvent && EVENT.test(v.text) ? `  case ${v.text}:` : `  case ${JSON.stringify(v.text)}:`));
        for (const k of kids(cs)) if (k !== v) out.push(...stmt(ctx, k, `${ind}    `));
      }
      out.push(c('}'));
      return out;
    }
    case 'return_statement': {
      const e = n.namedChildren[0];
      const v = e === null || e === undefined ? '' : strip(e).text;
      if (ctx.kind === 'interval') {
        if (v === 'true' || v === '1') return [c('return true;')];
        if (v === 'false' || v === '0') return [c('return false;')];
        ctx.todos++;
        return [c(`return driverState[${JSON.stringify(`return ${v}`)}] === true; // TODO: C returns ${v}`)];
      }
      const w = v.replace(/\s/g, '');
      if (/^-?\d+$/.test(w) || /^-(EAGAIN|EINTR|ENOMEM|EBUSY|EINVAL)$/.test(w)) return [c(`return ${w};`)];
      ctx.todos++;
      return [c(`return 0; // TODO: C returns ${v}`)];
    }
    case 'expression_statement': {
      const e = n.namedChildren[0];
      if (e === null || e === undefined) return [];
      return expr(ctx, strip(e), ind);
    }
    case 'labeled_statement':
      return [
        c(`// C label ${n.childForFieldName('label')?.text ?? ''}:`),
        ...kids(n)
          .slice(1)
          .flatMap((k) => stmt(ctx, k, ind)),
      ];
    case 'goto_statement':
      ctx.todos++;
      return [c(`// TODO: C ${textOf(n)} (model the unwinding at that label here)`)];
    case 'break_statement':
      return [c('break;')];
    case 'for_statement':
    case 'while_statement':
    case 'do_statement': {
      const body = n.childForFieldName('body');
      return [c(`// C loop: ${textOf(n).slice(0, 80)}`), c('{'), ...(body === null ? [] : stmt(ctx, body, `${ind}  `)), c('}')];
    }
    default:
      return [c(`// C: ${textOf(n).slice(0, 120)}`)];
  }
}

/** An expression statement: locks, set_seq and device operations. */
function expr(ctx: Ctx, e: CNode, ind: string): string[] {
  const c = (s: string) => `${ind}${s}`;
  // `r = f(…)` and `(void)f(…)`: the call is what the statement does to locks and the device.
  const called =
    e.type === 'assignment_expression' ? e.childForFieldName('right') : e.type === 'cast_expression' ? e.childForFieldName('value') : null;
  if (called !== null && strip(called).type === 'call_expression')
    return [c(`// C: ${textOf(e).slice(0, 120)}`), ...expr(ctx, strip(called), ind)];
  if (e.type === 'call_expression' && e.childForFieldName('function')?.type === 'call_expression') {
    const inner = e.childForFieldName('function') as CNode;
    if (callName(inner) === 'guard' && args(e)[0] !== undefined) {
      return [c(`await ${takeLock(ctx, args(e)[0] as CNode)}.lock(); // C: ${textOf(e)}: release it before each return`)];
    }
  }
  const name = callName(e);
  const a = args(e);
  if (name === '') return [c(`// C: ${textOf(e).slice(0, 120)}`)];
  if (
    /^(mutex_lock|spin_lock|down_read|down_write|read_lock|write_lock|raw_spin_lock)/.test(name) &&
    !/trylock/.test(name) &&
    a[0] !== undefined
  )
    return [c(`await ${takeLock(ctx, a[0])}.lock(); // C: ${textOf(e)}`)];
  // A driver's own lock wrapper that the file does not define (`svm_range_lock(prange)` from a
  // header), as lint reads it.
  if (/\w_lock$/.test(name) && !ctx.helpers.has(name) && a[0] !== undefined)
    return [c(`await ${takeLock(ctx, a[0])}.lock(); // C: ${textOf(e)} (a lock wrapper)`)];
  if (/(_unlock|^up_read|^up_write)/.test(name) && a[0] !== undefined) return [c(`${lockVar(ctx, a[0])}.unlock(); // C: ${textOf(e)}`)];
  if (name === 'mmu_interval_set_seq') {
    if (ctx.seqLock === undefined && ctx.taken !== undefined) ctx.seqLock = ctx.taken;
    return [c('mmuIntervalSetSeq(mni, curSeq);')];
  }
  if (
    /^(container_of|WARN|BUG|pr_|dev_|trace_|lockdep_|printk|READ_ONCE|WRITE_ONCE|might_sleep|DRM_)/.test(name) ||
    /_(dbg|debug|info|notice|warn|warn_once|err)$/.test(name)
  )
    return [c(`// C: ${textOf(e).slice(0, 120)}`)];
  ctx.todos++;
  const what = `${textOf(e).slice(0, 140)}${ctx.helpers.has(name) ? ` (a function of ${ctx.source}: model what its body does to the device)` : ''}`;
  switch (classify(name)) {
    case 'revoke':
      return [c(`vm.clearRange(range.start, range.end); // TODO: C ${what}: clears or write-protects device PTEs?`)];
    case 'tlb':
      return [c(`vm.flushTlb(range.start, range.end); // TODO: C ${what}`)];
    case 'invalidate':
      return [
        c(`// TODO: C ${what}: a device invalidation; model what it clears and flushes`),
        c('vm.clearRange(range.start, range.end);'),
        c('vm.flushTlb(range.start, range.end);'),
      ];
    default:
      return [c(`// TODO device operation: C ${what}`)];
  }
}

function findFns(root: CNode, file: string, out: FnDef[], tables: { field: string; fn: string; table: string }[]): void {
  for (const top of kids(root)) {
    if (/^preproc_(if|ifdef|else|elif)/.test(top.type)) {
      findFns(top, file, out, tables);
      continue;
    }
    if (top.type === 'function_definition') {
      let fd: CNode | null = top.childForFieldName('declarator');
      while (fd !== null && fd.type !== 'function_declarator') fd = fd.childForFieldName('declarator');
      const name = declName(top.childForFieldName('declarator'));
      if (fd === null || name === undefined) continue;
      const params = kids(fd.childForFieldName('parameters') as CNode)
        .filter((p) => p.type === 'parameter_declaration')
        .map((p) => declName(p.childForFieldName('declarator')) ?? '');
      out.push({ name, file, node: top, params, doc: '' });
    } else if (top.type === 'declaration') {
      const type = top.childForFieldName('type');
      const tn = type?.type === 'struct_specifier' ? type.childForFieldName('name')?.text : undefined;
      if (tn !== 'mmu_interval_notifier_ops' && tn !== 'mmu_notifier_ops') continue;
      for (const d of kids(top)) {
        const init = d.type === 'init_declarator' ? d.childForFieldName('value') : null;
        if (init?.type !== 'initializer_list') continue;
        const table = declName(d.childForFieldName('declarator')) ?? '?';
        for (const p of kids(init)) {
          if (p.type !== 'initializer_pair') continue;
          const field = p.childForFieldName('designator')?.text.replace(/^\./, '') ?? '';
          const v = p.childForFieldName('value');
          if (v?.type === 'identifier') tables.push({ field, fn: v.text, table });
        }
      }
    }
  }
}

/**
 * Writes `<dir>/driver.ts`: a driver skeleton mirroring the invalidate callbacks of `from`.
 * @throws AnalyzeError when `from` is missing or registers no invalidate callback, or `dir` is not empty
 */
export async function initFromC(dir: string, from: string): Promise<InitFromCResult> {
  const src = resolve(from);
  if (!existsSync(src))
    throw new AnalyzeError('ERR_NO_SUCH_FILE', `init: no such file: ${from}; pass the C file that defines the notifier ops`);
  const target = checkTarget(dir);
  const parser = await cParser();
  const tree = parser.parse(readFileSync(src, 'utf8'));
  if (tree === null) throw new AnalyzeError('ERR_PARSE', `init: ${from}: the C parser returned nothing`);
  const fns: FnDef[] = [];
  const tables: { field: string; fn: string; table: string }[] = [];
  findFns(tree.rootNode, src, fns, tables);
  const callbacks = tables.flatMap((t) => {
    const def = t.field === 'invalidate' || t.field === 'invalidate_range_start' ? fns.find((f) => f.name === t.fn) : undefined;
    return def === undefined ? [] : [{ ...t, def }];
  });
  if (callbacks.length === 0) {
    // A secondary-TLB callback (`.invalidate_range`, `.arch_invalidate_secondary_tlbs` since 6.6)
    // is called with the CPU's TLB flush, under the page-table lock, and must not sleep: its
    // model (`archInvalidateSecondaryTlbs`) is another kind of function than the skeleton writes.
    const tlb = tables.find((t) => t.field === 'invalidate_range' || t.field === 'arch_invalidate_secondary_tlbs');
    throw new AnalyzeError(
      'ERR_USAGE',
      tlb !== undefined
        ? `init: ${from} registers no invalidate or invalidate_range_start callback: ${tlb.table}.${tlb.field} = ${tlb.fn} is a secondary-TLB callback, which init --from does not translate; model it by hand as the notifier's archInvalidateSecondaryTlbs (synchronous: it must not sleep)`
        : `init: ${from} defines no invalidate callback in a mmu_interval_notifier_ops or mmu_notifier_ops initialiser`,
    );
  }
  const locks = new Map<string, string>();
  let todos = 0;
  const bodies: string[] = [];
  const registered: string[] = [];
  /** Each interval callback's notifier lock (see {@link Ctx.seqLock}). */
  const seqLocks = new Map<string, string | undefined>();
  for (const cb of callbacks) {
    const kind = cb.field === 'invalidate' ? 'interval' : 'start';
    const rangeParam = cb.def.params[1] ?? 'range';
    const ctx: Ctx = {
      kind,
      ranges: new Set([rangeParam]),
      events: new Set(),
      locks,
      helpers: new Set(fns.map((f) => f.name)),
      source: basename(src),
      todos: 0,
    };
    const body = cb.def.node.childForFieldName('body');
    const lines = body === null ? [] : stmt(ctx, body, '        ');
    todos += ctx.todos;
    if (kind === 'interval') seqLocks.set(cb.fn, ctx.seqLock);
    const fname = ident(cb.fn);
    const head =
      kind === 'interval'
        ? `      /** \`${cb.fn}\` (${basename(src)}:${lineOf(cb.def.node)}), \`${cb.table}.invalidate\`. */\n      async function ${fname}(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): Promise<boolean> {`
        : `      /** \`${cb.fn}\` (${basename(src)}:${lineOf(cb.def.node)}), \`${cb.table}.invalidate_range_start\`: register it as a classic notifier's invalidateRangeStart (TODO). */\n      async function ${fname}(range: MmuNotifierRange): Promise<number> {`;
    const ends = lines.length > 0 && /^\s*return [^;]*;/.test(lines[lines.length - 1] as string);
    const tail = `${ends ? '' : kind === 'interval' ? '        return true;\n' : '        return 0;\n'}      }`;
    bodies.push(`${head}\n${lines.join('\n')}\n${tail}`);
    registered.push(fname);
  }
  const interval = callbacks.find((c) => c.field === 'invalidate');
  const unregistered = registered.filter((f) => interval === undefined || f !== ident(interval.fn));
  const lockDecls = [...locks].map(([key, v]) => `      const ${v} = kernel.mutex(${JSON.stringify(key)});`);
  // The fault path takes the lock the registered callback holds around mmu_interval_set_seq (the
  // contract lint checks), else the first lock of any callback.
  const firstLock = (interval === undefined ? undefined : seqLocks.get(interval.fn)) ?? [...locks.values()][0];
  const text = `/**
 * Driver skeleton generated by \`hmmlab init --from ${basename(src)}\`: its notifier callbacks
 * mirror the decision structure of the C callbacks (tests of range->event, the owner and
 * blockability, locks, mmu_interval_set_seq, returns). Fill in the TODOs: model each device
 * operation with the device's page table (\`vm.clearRange\`, \`vm.flushTlb\`, \`vm.setPte\`) and
 * each test of driver state, then run \`hmmlab lint\` and \`hmmlab fuzz\` on this folder.
 */
import {
  EFAULT,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToPage,
  type Kernel,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  MMU_NOTIFY_PROTECTION_PAGE,
  MMU_NOTIFY_PROTECTION_VMA,
  MMU_NOTIFY_RELEASE,
  MMU_NOTIFY_SOFT_DIRTY,
  MMU_NOTIFY_UNMAP,
  MmuIntervalNotifier,
  type MmuNotifierRange,
  mmuIntervalNotifierInsert,
  mmuIntervalSetSeq,
  mmuNotifierRangeBlockable,
  ULONG_MAX,
} from '@hmmlab/core';
import { Device, defineDriver, hmmRangeFaultLoop } from '@hmmlab/harness';

/** The C errno values the callbacks return. */
const EAGAIN = 11;
const EINTR = 4;
const ENOMEM = 12;
const EBUSY = 16;
const EINVAL = 22;
void [EAGAIN, EINTR, ENOMEM, EBUSY, EINVAL];
void [MMU_NOTIFY_CLEAR, MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE, MMU_NOTIFY_PROTECTION_PAGE];
void [MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_RELEASE, MMU_NOTIFY_SOFT_DIRTY, MMU_NOTIFY_UNMAP];

/** TODO: the tests of driver state the C callbacks make, by their C text; model each on the driver's own state. */
const driverState: Record<string, boolean> = {};

/** TODO: a value of driver state a C switch tests. */
function driverValue(_cExpr: string): string {
  return '';
}
void driverValue;

export default defineDriver({
  name: ${JSON.stringify(basename(src, '.c'))},
  probe(kernel: Kernel) {
    // TODO: the device's TLB and memory, as the C driver's hardware has them. Device memory that
    // the CPU cannot address (MEMORY_DEVICE_PRIVATE) needs its pagemap's migrate_to_ram:
    // memory: { type: 'private', pages, migrateToRam(vmf) { ... } }.
    const dev = new Device(kernel, { name: ${JSON.stringify(`${basename(src, '.c')}0`)} });
    return {
      devices: [dev],
      async bind(mm) {
${lockDecls.join('\n')}
${firstLock === undefined ? "      const faultLock = kernel.mutex('fault lock');\n" : ''}      const mni = new MmuIntervalNotifier(${JSON.stringify(basename(src, '.c'))});
      const vm = dev.createVm(mm, {
        fault(v, f) {
          // TODO: the C fault path (hmm_range_fault, then mmu_interval_read_retry under the lock).
          const start = kernel.pageAlignDown(f.va);
          const range: HmmRange = {
            notifier: mni,
            notifierSeq: 0,
            start,
            end: start + kernel.pageSize,
            hmmPfns: [0],
            // A write fault asks for a writable page (HMM_PFN_REQ_WRITE), or the device would fault on it again and again.
            defaultFlags: HMM_PFN_REQ_FAULT | (f.kind === 'read' ? 0 : HMM_PFN_REQ_WRITE),
            pfnFlagsMask: 0,
            devPrivateOwner: dev.owner,
          };
          return hmmRangeFaultLoop({
            mm,
            range,
            lock: () => ${firstLock ?? 'faultLock'}.lock(),
            unlock: () => ${firstLock ?? 'faultLock'}.unlock(),
            commit(r) {
              const e = r.hmmPfns[0] as number;
              if (f.kind !== 'read' && (e & HMM_PFN_WRITE) === 0) return -EFAULT;
              v.setPte(r.start, hmmPfnToPage(kernel, e), { write: (e & HMM_PFN_WRITE) !== 0 });
              return 0;
            },
          });
        },
      });
${bodies.join('\n\n')}
${unregistered.map((f) => `      void ${f}; // TODO: register it (another ops table of the C driver)`).join('\n')}
      await mmuIntervalNotifierInsert(mni, mm, 0, ULONG_MAX - (ULONG_MAX % kernel.pageSize), {
        invalidate: ${interval === undefined ? 'async () => true' : `(sub, range, curSeq) => ${ident(interval.fn)}(sub, range, curSeq)`},
      });
      return { vms: [vm] };
      },
    };
  },
});
`;
  target.create();
  const file = join(target.abs, 'driver.ts');
  writeFileSync(file, text);
  return { file, callbacks: callbacks.length, todos };
}
