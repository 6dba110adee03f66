/**
 * Mutation operators of the flush contract: each finds the places in a driver source where a
 * plausible driver bug can be written (a flush dropped, a lock taken on the wrong object, the
 * sequence moved out of the lock, a range one page short, an event or owner test inverted, a
 * notifier never removed …) and
 * says which text edit writes it. One site is one mutant.
 */
import { type BinaryExpression, type CallExpression, Node, type SourceFile, type Statement, SyntaxKind } from 'ts-morph';
import type { Edit } from '../codemod/edits.js';
import {
  callName,
  callsNamed,
  DMA_UNMAPS,
  enclosingFunction,
  LOCK_PAIRS,
  NOTIFIER_REMOVALS,
  namedFunction,
  PTE_CLEARS,
  RANGE_CALLS,
  receiverOf,
  soleStatement,
  TLB_FLUSHES,
  TRYLOCKS,
} from './sites.js';

/** One place an operator applies, and the edits that make the mutant. */
export interface Site {
  /** Where the mutant's id is anchored (its function) and its line is reported. */
  readonly anchor: Node;
  readonly edits: readonly Edit[];
  /** What the mutant does, for the report. */
  readonly what: string;
}

/** A mutation operator. */
export interface Operator {
  readonly name: string;
  /** What it breaks, one line. */
  readonly summary: string;
  sites(file: SourceFile): Site[];
}

/** An edit that replaces `n`'s text. */
function replace(n: Node, text: string): Edit {
  return { start: n.getStart(), end: n.getEnd(), text };
}

/** Removes a statement, leaving an empty block so that `if (c) stmt;` stays valid. */
function remove(s: Statement): Edit {
  return replace(s, '{}');
}

function dropCalls(names: ReadonlySet<string>): (file: SourceFile) => Site[] {
  return (file) =>
    callsNamed(file, names).flatMap((c) => {
      const s = soleStatement(c);
      return s === null ? [] : [{ anchor: c, edits: [remove(s)], what: `drop \`${s.getText()}\`` }];
    });
}

/** The lock, trylock and unlock calls of `receiver` in `fn`, paired by family. */
function lockCalls(fn: Node, receiver: string, lock: string): CallExpression[] {
  const unlock = LOCK_PAIRS.get(lock);
  return fn.getDescendantsOfKind(SyntaxKind.CallExpression).filter((c) => {
    const n = callName(c);
    return receiverOf(c) === receiver && (LOCK_PAIRS.get(n) === unlock || TRYLOCKS.get(n) === unlock || n === unlock);
  });
}

/** Each (function, lock) pair once: the first blocking lock call of each receiver in each named function. */
function lockSites(file: SourceFile): { fn: Node; receiver: string; lock: CallExpression }[] {
  const seen = new Set<string>();
  const out: { fn: Node; receiver: string; lock: CallExpression }[] = [];
  for (const c of callsNamed(file, LOCK_PAIRS)) {
    const receiver = receiverOf(c);
    const fn = namedFunction(c);
    if (receiver === null || fn === undefined) continue;
    const key = `${fn.getStart()}|${receiver}|${LOCK_PAIRS.get(callName(c))}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ fn, receiver, lock: c });
  }
  return out;
}

/** Comparisons (`===`, `!==`) one of whose sides matches `side`. */
function comparisons(file: SourceFile, side: (n: Node) => boolean): BinaryExpression[] {
  return file.getDescendantsOfKind(SyntaxKind.BinaryExpression).filter((b) => {
    const op = b.getOperatorToken().getKind();
    const eq =
      op === SyntaxKind.EqualsEqualsEqualsToken ||
      op === SyntaxKind.ExclamationEqualsEqualsToken ||
      op === SyntaxKind.EqualsEqualsToken ||
      op === SyntaxKind.ExclamationEqualsToken;
    return eq && (side(b.getLeft()) || side(b.getRight()));
  });
}

const isEvent = (n: Node): boolean =>
  (Node.isPropertyAccessExpression(n) && n.getName() === 'event') || (Node.isIdentifier(n) && /^(MMU_NOTIFY_\w+|event)$/.test(n.getText()));
const isOwner = (n: Node): boolean =>
  (Node.isPropertyAccessExpression(n) && /^(owner|migratePgmapOwner|data)$/.test(n.getName()) && /range|update|r\b/i.test(n.getText())) ||
  (Node.isIdentifier(n) && n.getText() === 'owner');

function flipComparison(b: BinaryExpression): Edit {
  const t = b.getOperatorToken();
  const flipped: Record<string, string> = { '===': '!==', '!==': '===', '==': '!=', '!=': '==' };
  return replace(t, flipped[t.getText()] ?? t.getText());
}

const SET_SEQ = new Set(['mmuIntervalSetSeq']);

/** The statement that holds `n` directly in a block, if any. */
function blockStatement(n: Node): Statement | null {
  const s = soleStatement(n);
  return s !== null && Node.isBlock(s.getParent()) ? s : null;
}

/** The next statement after `s` in its block that unlocks (any receiver), or null. */
function nextUnlock(s: Statement): Statement | null {
  for (const t of s.getNextSiblings()) {
    if (!Node.isExpressionStatement(t)) continue;
    const c = t.getDescendantsOfKind(SyntaxKind.CallExpression).find((x) => [...LOCK_PAIRS.values()].includes(callName(x)));
    if (c !== undefined && soleStatement(c) === t) return t as Statement;
  }
  return null;
}

/** Moves statement `s` to just after statement `after`. */
function moveAfter(s: Statement, after: Statement): Edit[] {
  return [remove(s), { start: after.getEnd(), end: after.getEnd(), text: ` ${s.getText()}` }];
}

/** A flag or field written in place: `a.b = v`, `a.b += v`, `a.b++`, `cell.set(v)`. */
function isFieldUpdate(s: Statement): boolean {
  if (!Node.isExpressionStatement(s)) return false;
  const e = s.getExpression();
  if (Node.isBinaryExpression(e)) {
    const op = e.getOperatorToken().getText();
    return /^([+\-|&]?=)$/.test(op) && Node.isPropertyAccessExpression(e.getLeft());
  }
  if (Node.isPostfixUnaryExpression(e) || Node.isPrefixUnaryExpression(e)) return Node.isPropertyAccessExpression(e.getOperand());
  return Node.isCallExpression(e) && callName(e) === 'set' && receiverOf(e) !== null;
}

const BOUNDS = /\b(start|end|limit|last|addr|va|address|first)\b/i;

/** `receiver`'s lock, trylock and unlocks in `fn` made on `other` instead. */
function sub(fn: Node, receiver: string, lock: CallExpression, other: string): Site {
  const edits = lockCalls(fn, receiver, callName(lock)).map((c) => {
    const e = c.getExpression();
    return replace(Node.isPropertyAccessExpression(e) ? e.getExpression() : e, other);
  });
  return { anchor: lock, edits, what: `\`${other}\` instead of \`${receiver}\`` };
}

/** The operators, in report order. */
export const OPERATORS: readonly Operator[] = [
  { name: 'drop-tlb-flush', summary: 'remove a device TLB flush or quiesce', sites: dropCalls(TLB_FLUSHES) },
  { name: 'drop-pte-clear', summary: 'remove a device PTE clear or write-protect', sites: dropCalls(PTE_CLEARS) },
  { name: 'drop-dma-unmap', summary: 'remove a DMA unmap', sites: dropCalls(DMA_UNMAPS) },
  {
    name: 'drop-notifier-remove',
    summary: 'remove an interval notifier removal, or a classic notifier unregister or put',
    sites: dropCalls(NOTIFIER_REMOVALS),
  },
  {
    name: 'drop-lock-pair',
    summary: 'take no lock: remove a lock, its trylock and its unlocks in one function',
    sites: (file) =>
      lockSites(file).map(({ fn, receiver, lock }) => {
        const edits: Edit[] = [];
        for (const c of lockCalls(fn, receiver, callName(lock))) {
          if (TRYLOCKS.has(callName(c))) edits.push(replace(c, 'true'));
          else {
            const s = soleStatement(c);
            if (s !== null) edits.push(remove(s));
          }
        }
        return { anchor: lock, edits, what: `no \`${receiver}\` in this function` };
      }),
  },
  {
    name: 'other-lock',
    summary: 'take another lock of the same object (or file) instead',
    sites: (file) => {
      const locks = callsNamed(file, LOCK_PAIRS);
      return lockSites(file).flatMap(({ fn, receiver, lock }) => {
        // Another lock of the same kind (a mutex for a mutex), preferably one this function or this object holds.
        const family = LOCK_PAIRS.get(callName(lock));
        const field = (r: string | null): string | undefined => r?.split('.').pop();
        // `svmm.mutex` and `this.mutex` are one lock under two names: another field is another lock.
        const same = locks.filter((c) => LOCK_PAIRS.get(callName(c)) === family && field(receiverOf(c)) !== field(receiver));
        const root = receiver.split('.')[0];
        const other = [same.find((c) => namedFunction(c) === fn), same.find((c) => receiverOf(c)?.split('.')[0] === root), same[0]].find(
          (c) => c !== undefined,
        );
        if (other === undefined) return [];
        return [sub(fn, receiver, lock, receiverOf(other) as string)];
      });
    },
  },
  {
    name: 'return-before-set-seq',
    summary: 'return true before mmu_interval_set_seq (and before the lock that guards it)',
    sites: (file) =>
      callsNamed(file, SET_SEQ).flatMap((c) => {
        const s = blockStatement(c);
        if (s === null) return [];
        const locks = s
          .getPreviousSiblings()
          .filter((t) => t.getDescendantsOfKind(SyntaxKind.CallExpression).some((x) => LOCK_PAIRS.has(callName(x))));
        const before = locks.sort((a, b) => b.getStart() - a.getStart())[0] ?? s;
        return [
          { anchor: c, edits: [{ start: before.getStart(), end: before.getStart(), text: 'return true; ' }], what: 'return true first' },
        ];
      }),
  },
  { name: 'drop-set-seq', summary: 'remove mmu_interval_set_seq', sites: dropCalls(SET_SEQ) },
  {
    name: 'set-seq-after-unlock',
    summary: 'move mmu_interval_set_seq after the unlock that follows it',
    sites: (file) =>
      callsNamed(file, SET_SEQ).flatMap((c) => {
        const s = blockStatement(c);
        const u = s === null ? null : nextUnlock(s);
        return s === null || u === null ? [] : [{ anchor: c, edits: moveAfter(s, u), what: `after \`${u.getText()}\`` }];
      }),
  },
  {
    name: 'flag-after-unlock',
    summary: 'move a field or flag update after the unlock that follows it',
    sites: (file) =>
      file.getDescendantsOfKind(SyntaxKind.ExpressionStatement).flatMap((s) => {
        if (!Node.isBlock(s.getParent()) || !isFieldUpdate(s)) return [];
        const u = nextUnlock(s);
        return u === null ? [] : [{ anchor: s, edits: moveAfter(s, u), what: `\`${s.getText()}\` after \`${u.getText()}\`` }];
      }),
  },
  ...(['end', 'start'] as const).map(
    (bound): Operator => ({
      name: `narrow-range-${bound}`,
      summary: `move the ${bound} of a device clear or flush range one page ${bound === 'end' ? 'down' : 'up'}`,
      sites: (file) =>
        callsNamed(file, RANGE_CALLS).flatMap((c) => {
          const args = c.getArguments();
          const vm = receiverOf(c);
          const arg = args[bound === 'end' ? 1 : 0];
          if (args.length < 2 || vm === null || arg === undefined) return [];
          const text = `(${arg.getText()}) ${bound === 'end' ? '-' : '+'} ${vm}.mm.pageSize`;
          return [{ anchor: c, edits: [replace(arg, text)], what: `${callName(c)}(…, ${text})` }];
        }),
    }),
  ),
  {
    name: 'range-boundary',
    summary: 'turn < into <= (or > into >=, and back) in a comparison of range bounds',
    sites: (file) =>
      file.getDescendantsOfKind(SyntaxKind.BinaryExpression).flatMap((b) => {
        const t = b.getOperatorToken().getText();
        const flip: Record<string, string> = { '<': '<=', '<=': '<', '>': '>=', '>=': '>' };
        const to = flip[t];
        if (to === undefined || !(BOUNDS.test(b.getLeft().getText()) || BOUNDS.test(b.getRight().getText()))) return [];
        return [{ anchor: b, edits: [replace(b.getOperatorToken(), to)], what: `\`${b.getText()}\` with ${to}` }];
      }),
  },
  {
    name: 'flip-event-cmp',
    summary: 'invert a test of range.event',
    sites: (file) => comparisons(file, isEvent).map((b) => ({ anchor: b, edits: [flipComparison(b)], what: `invert \`${b.getText()}\`` })),
  },
  {
    name: 'drop-event-cmp',
    summary: 'drop a test of range.event (as if it always held)',
    sites: (file) => comparisons(file, isEvent).map((b) => ({ anchor: b, edits: [replace(b, 'true')], what: `\`${b.getText()}\` → true` })),
  },
  {
    name: 'flip-owner-cmp',
    summary: 'invert a test of range.owner',
    sites: (file) => comparisons(file, isOwner).map((b) => ({ anchor: b, edits: [flipComparison(b)], what: `invert \`${b.getText()}\`` })),
  },
  {
    name: 'drop-owner-cmp',
    summary: 'drop a test of range.owner (as if it always held)',
    sites: (file) => comparisons(file, isOwner).map((b) => ({ anchor: b, edits: [replace(b, 'true')], what: `\`${b.getText()}\` → true` })),
  },
  {
    name: 'nonblockable-as-blockable',
    summary: 'treat every range as blockable',
    sites: (file) =>
      callsNamed(file, new Set(['mmuNotifierRangeBlockable'])).map((c) => ({
        anchor: c,
        edits: [replace(c, 'true')],
        what: `\`${c.getText()}\` → true`,
      })),
  },
  {
    name: 'ignore-trylock-failure',
    summary: 'report success where a callback that could not take its lock fails (return false / -EAGAIN)',
    sites: (file) =>
      file.getDescendantsOfKind(SyntaxKind.ReturnStatement).flatMap((r) => {
        const e = r.getExpression()?.getText();
        const to = e === 'false' ? 'true' : e === '-EAGAIN' ? '0' : null;
        const fn = enclosingFunction(r);
        if (to === null || fn === undefined || callsNamed(file, TRYLOCKS).every((c) => enclosingFunction(c) !== fn)) return [];
        const x = r.getExpression() as Node;
        return [{ anchor: r, edits: [replace(x, to)], what: `return ${to} instead of ${e}` }];
      }),
  },
  {
    name: 'skip-continue',
    summary: 'remove a continue from a loop',
    sites: (file) =>
      file.getDescendantsOfKind(SyntaxKind.ContinueStatement).map((s) => ({ anchor: s, edits: [remove(s)], what: 'drop continue' })),
  },
  {
    name: 'stop-advance',
    summary: 'stop advancing the index of a for loop',
    sites: (file) =>
      file.getDescendantsOfKind(SyntaxKind.ForStatement).flatMap((f) => {
        const inc = f.getIncrementor();
        return inc === undefined ? [] : [{ anchor: f, edits: [replace(inc, '')], what: `drop \`${inc.getText()}\`` }];
      }),
  },
  {
    name: 'swap-clear-flush',
    summary: 'flush the device TLB before clearing the device PTEs instead of after',
    sites: (file) =>
      callsNamed(file, PTE_CLEARS).flatMap((c) => {
        const s = blockStatement(c);
        const next = s?.getNextSibling();
        if (
          s === null ||
          next === undefined ||
          !next.getDescendantsOfKind(SyntaxKind.CallExpression).some((x) => TLB_FLUSHES.has(callName(x)))
        )
          return [];
        return [{ anchor: c, edits: [replace(s, next.getText()), replace(next, s.getText())], what: 'flush, then clear' }];
      }),
  },
  {
    name: 'drop-read-retry',
    summary: 'drop the mmu_interval_read_retry check (as if it never asked for a retry)',
    sites: (file) =>
      callsNamed(file, new Set(['mmuIntervalReadRetry'])).map((c) => ({
        anchor: c,
        edits: [replace(c, 'false')],
        what: `\`${c.getText()}\` → false`,
      })),
  },
  {
    name: 'drop-flush-wait',
    summary: 'do not wait for a fenced device flush',
    sites: (file) =>
      file.getDescendantsOfKind(SyntaxKind.AwaitExpression).flatMap((a) => {
        const x = a.getExpression();
        const fenced =
          x.getDescendantsOfKind(SyntaxKind.CallExpression).some((c) => callName(c) === 'wait') ||
          (Node.isCallExpression(x) && callName(x) === 'wait');
        return fenced ? [{ anchor: a, edits: [replace(a, `void ${x.getText()}`)], what: `\`${a.getText()}\` not awaited` }] : [];
      }),
  },
];
