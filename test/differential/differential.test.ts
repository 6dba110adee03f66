/**
 * The differential suite: every script of fixtures/scripts was run once on a real Linux 6.1 kernel
 * (test_hmm under QEMU, fixtures/README.md says how) and its output recorded in
 * fixtures/kernel-6.1. Here each script runs on the model (profile 6.1, examples/dmirror) and must
 * print the same lines. The scripts listed in known-divergences.ts must still diverge in the way
 * listed, so that the list stays true.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { interpretScript } from './interpreter.js';
import { KNOWN_DIVERGENCES } from './known-divergences.js';

const dir = new URL('./fixtures/', import.meta.url).pathname;
const names = readdirSync(`${dir}scripts`)
  .filter((f) => f.endsWith('.hmm'))
  .map((f) => f.slice(0, -4))
  .sort();

/** Output lines, without the blank lines a kernel Oops leaves in the serial log. */
function kernelLines(name: string): string[] {
  return readFileSync(`${dir}kernel-6.1/${name}.out`, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** Line numbers (the first token) whose lines differ, either side missing included. */
function differing(kernel: readonly string[], model: readonly string[]): number[] {
  const byNo = (ls: readonly string[]) => new Map(ls.map((l) => [Number(l.split(' ', 1)[0]), l]));
  const k = byNo(kernel);
  const m = byNo(model);
  const all = [...new Set([...k.keys(), ...m.keys()])].sort((a, b) => a - b);
  return all.filter((n) => k.get(n) !== m.get(n));
}

const stats = { scripts: 0, identical: 0, lines: 0, identicalLines: 0 };

describe('the model against Linux 6.1 on the recorded differential scripts', () => {
  it('should have at least 500 recorded scripts, each with its kernel output', () => {
    expect(names.length).toBeGreaterThanOrEqual(500);
    const outs = new Set(readdirSync(`${dir}kernel-6.1`));
    expect(names.filter((n) => !outs.has(`${n}.out`))).toEqual([]);
  });

  it('should list only scripts that exist', () => {
    expect(Object.keys(KNOWN_DIVERGENCES).filter((n) => !names.includes(n))).toEqual([]);
  });

  it.each(names)('%s', async (name) => {
    const kernel = kernelLines(name);
    const model = await interpretScript(readFileSync(`${dir}scripts/${name}.hmm`, 'utf8'));
    const diff = differing(kernel, model);
    const total = new Set([...kernel, ...model].map((l) => l.split(' ', 1)[0])).size;
    stats.scripts++;
    stats.lines += total;
    stats.identicalLines += total - diff.length;
    if (diff.length === 0) stats.identical++;
    const known = KNOWN_DIVERGENCES[name];
    if (known === undefined) {
      expect(model).toEqual(kernel);
      return;
    }
    // A listed script must diverge first at the line the list names, and agree before it.
    expect(diff[0], `${name} is listed as diverging at line ${known.line} (${known.cause}) but`).toBe(known.line);
    if (known.kind === 'kernel-oops') {
      expect(kernel.at(-1)).toMatch(new RegExp(`^${known.line} \\S+ kernel-oops$`));
    }
  });

  afterAll(() => {
    console.log(
      `differential: scripts identical ${stats.identical}/${stats.scripts}, lines identical ${stats.identicalLines}/${stats.lines}`,
    );
  });
});
