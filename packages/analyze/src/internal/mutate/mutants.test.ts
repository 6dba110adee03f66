import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AnalyzeError } from '../errors.js';
import { REPO, tempDir } from '../testing/temp.js';
import { EQUIVALENTS_FILE, type Mutant, mutants, OPERATOR_NAMES, readEquivalents } from './mutants.js';

const fixture = fileURLToPath(new URL('./fixtures/mirror.ts', import.meta.url));
const original = readFileSync(fixture, 'utf8');
const dirs: { dispose(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.dispose();
});

/** A copy of the fixture with `text` instead, where `@hmmlab/*` still resolves. */
function copy(text: string): string {
  const d = tempDir('mutate');
  dirs.push(d);
  symlinkSync(join(REPO, 'examples', 'node_modules'), join(d.path, 'node_modules'));
  writeFileSync(join(d.path, 'package.json'), '{ "type": "module" }\n');
  const p = join(d.path, 'mirror.ts');
  writeFileSync(p, text);
  return p;
}

const all = mutants(fixture).mutants;
const only = (op: string): Mutant[] => all.filter((m) => m.operator === op);

describe('mutants', () => {
  it.each<[string, number, RegExp]>([
    ['drop-tlb-flush', 1, /\{\}\n {4}this\.invalidations/],
    ['drop-pte-clear', 1, /\{\}\n {4}await this\.vm\.flushTlbAsync/],
    ['drop-dma-unmap', 1, /continue;\n {6}\{\}/],
    ['drop-notifier-remove', 1, /async unbind\(mni: MmuIntervalNotifier\): Promise<void> \{\n {4}\{\}\n/],
    ['drop-lock-pair', 3, /if \(mmuNotifierRangeBlockable\(range\)\) \{\}\n {4}else if \(!true\) return false;/],
    ['other-lock', 3, /await this\.statsLock\.lock\(\);\n {4}else if \(!this\.statsLock\.tryLock\(\)\)/],
    ['return-before-set-seq', 1, /return true; if \(mmuNotifierRangeBlockable\(range\)\)/],
    ['drop-set-seq', 1, /return false;\n {4}\{\}\n/],
    [
      'set-seq-after-unlock',
      1,
      /\{\}\n {4}if \(range\.event[\s\S]*this\.lock\.unlock\(\); mmuIntervalSetSeq\(mni, curSeq\);\n {4}return true;\n {2}\}/,
    ],
    ['flag-after-unlock', 1, /\{\}\n {4}this\.lock\.unlock\(\); this\.invalidations \+= 1;/],
    ['narrow-range-end', 2, /clearRange\(range\.start, \(range\.end\) - this\.vm\.mm\.pageSize, 'invalidate'\)/],
    ['narrow-range-start', 2, /clearRange\(\(range\.start\) \+ this\.vm\.mm\.pageSize, range\.end, 'invalidate'\)/],
    ['flip-event-cmp', 1, /range\.event !== MMU_NOTIFY_MIGRATE && range\.owner ===/],
    ['drop-event-cmp', 1, /if \(true && range\.owner === this\.vm\.device\.owner\)/],
    ['flip-owner-cmp', 1, /range\.owner !== this\.vm\.device\.owner/],
    ['drop-owner-cmp', 1, /if \(range\.event === MMU_NOTIFY_MIGRATE && true\)/],
    ['nonblockable-as-blockable', 1, /if \(true\) await this\.lock\.lock\(\);/],
    ['ignore-trylock-failure', 1, /else if \(!this\.lock\.tryLock\(\)\) return true;/],
    ['skip-continue', 1, /if \(p === undefined\) \{\}/],
    ['stop-advance', 1, /for \(let i = 0; i < pages\.length; \)/],
    ['swap-clear-flush', 1, /\.wait\(\);\n {4}this\.vm\.clearRange\(range\.start, range\.end, 'invalidate'\);\n {4}this\.invalidations/],
    ['drop-read-retry', 1, /if \(false\) \{/],
    ['drop-flush-wait', 1, /void this\.vm\.flushTlbAsync\(range\.start, range\.end\)\.wait\(\);/],
  ])('should apply %s at its %i site(s) of the fixture', (op, count, edit) => {
    const ms = only(op);
    expect(ms).toHaveLength(count);
    expect(edit.test(original)).toBe(false);
    expect(ms.some((m) => edit.test(m.text))).toBe(true);
    for (const m of ms) expect(m.diff).toMatch(/^--- a\/mirror\.ts\n\+\+\+ b\/mirror\.ts\n@@ /);
  });

  it('should have an operator in the table above for every operator it knows', () => {
    expect(new Set(all.map((m) => m.operator))).toEqual(new Set(OPERATOR_NAMES.filter((o) => o !== 'range-boundary')));
    expect(OPERATOR_NAMES.length).toBeGreaterThanOrEqual(15);
  });

  it('should name each mutant by operator, file, function and ordinal, unique and without line numbers', () => {
    expect(new Set(all.map((m) => m.id)).size).toBe(all.length);
    expect(only('narrow-range-end').map((m) => m.id)).toEqual([
      'narrow-range-end@mirror.ts:Mirror.invalidate#0',
      'narrow-range-end@mirror.ts:Mirror.invalidate#1',
    ]);
    expect(only('drop-lock-pair').map((m) => m.id)).toEqual([
      'drop-lock-pair@mirror.ts:Mirror.invalidate#0',
      'drop-lock-pair@mirror.ts:Mirror.fault#0',
      'drop-lock-pair@mirror.ts:Mirror.release#0',
    ]);
  });

  it('should keep the ids when unrelated code is added above and inside other functions', () => {
    const edited = original
      .replace('export class Mirror {', '/** Unrelated. */\nexport const UNRELATED = 1;\n\nexport class Mirror {')
      .replace('  async fault(', '  /** Unrelated. */\n  reset(): void {\n    this.invalidations = 0;\n  }\n\n  async fault(');
    const after = mutants(copy(edited)).mutants;
    expect(after.map((m) => m.id)).toEqual(all.map((m) => m.id));
    expect(after.map((m) => m.line)).not.toEqual(all.map((m) => m.line));
  });

  it('should follow relative imports and report a mutant that does not type-check', () => {
    const set = mutants(fixture, { operators: ['drop-set-seq'] });
    expect(set.files).toEqual([fixture]);
    const m = set.mutants[0] as Mutant;
    expect(set.typeErrors(m)).toEqual([]);
    const broken = { ...m, text: m.text.replace('return false;', 'return 1;') };
    expect(set.typeErrors(broken).join('\n')).toMatch(/^mirror\.ts:\d+: Type 'number' is not assignable to type 'boolean'/);
  });

  it('should reject an unknown operator in one line', () => {
    expect(() => mutants(fixture, { operators: ['drop-everything'] })).toThrow(
      /^mutate: unknown operator drop-everything; expected one of/,
    );
  });
});

describe('readEquivalents', () => {
  it('should read the list beside the driver, and fail in one line on a malformed one', () => {
    const p = copy(original);
    expect(readEquivalents(p)).toEqual([]);
    const entry = { id: 'drop-set-seq@mirror.ts:Mirror.invalidate#0', reason: 'because' };
    writeFileSync(join(p, '..', EQUIVALENTS_FILE), JSON.stringify({ equivalent: [entry] }));
    expect(readEquivalents(p)).toEqual([entry]);
    writeFileSync(join(p, '..', EQUIVALENTS_FILE), JSON.stringify({ equivalent: [{ id: 'x' }] }));
    expect(() => readEquivalents(p)).toThrow(AnalyzeError);
  });
});
