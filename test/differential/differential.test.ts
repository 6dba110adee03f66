/**
 * The differential suite: every script of fixtures/scripts was run once on a real Linux 6.1 kernel
 * (test_hmm under QEMU, fixtures/README.md says how) and its output recorded in
 * fixtures/kernel-6.1. Here each script runs on the model (profile 6.1, examples/dmirror) and must
 * print the same lines. A script that oopses 6.1's test_hmm (its output ends in `kernel-oops`) was
 * recorded again on 6.1 with patches 0001-0002 of docs/findings/patches, which fix that oops
 * (fixtures/kernel-6.1-0001-0002); the model must agree with unpatched 6.1 up to the oops and with
 * the patched kernel on every line. The scripts listed in known-divergences.ts must still diverge
 * in the way listed, so that the list stays true.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { interpretScript } from './interpreter.js';
import { KNOWN_DIVERGENCES } from './known-divergences.js';

const dir = new URL('./fixtures/', import.meta.url).pathname;
const UNPATCHED = 'kernel-6.1';
const PATCHED = 'kernel-6.1-0001-0002';
const names = readdirSync(`${dir}scripts`)
  .filter((f) => f.endsWith('.hmm'))
  .map((f) => f.slice(0, -4))
  .sort();
const outs = (kernel: string) =>
  readdirSync(`${dir}${kernel}`)
    .filter((f) => f.endsWith('.out'))
    .map((f) => f.slice(0, -4))
    .sort();

/** Output lines, without the blank lines a kernel Oops leaves in the serial log. */
function kernelLines(kernel: string, name: string): string[] {
  return readFileSync(`${dir}${kernel}/${name}.out`, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** The line number where 6.1 oopsed (`<line> <verb> kernel-oops`, its last line), if it did. */
function oopsLine(kernel: readonly string[]): number | undefined {
  const m = /^(\d+) \S+ kernel-oops$/.exec(kernel.at(-1) ?? '');
  return m === null ? undefined : Number(m[1]);
}

/** Line numbers (the first token) whose lines differ, either side missing included. */
function differing(kernel: readonly string[], model: readonly string[]): number[] {
  const byNo = (ls: readonly string[]) => new Map(ls.map((l) => [Number(l.split(' ', 1)[0]), l]));
  const k = byNo(kernel);
  const m = byNo(model);
  const all = [...new Set([...k.keys(), ...m.keys()])].sort((a, b) => a - b);
  return all.filter((n) => k.get(n) !== m.get(n));
}

interface Stats {
  scripts: number;
  identical: number;
  lines: number;
  identicalLines: number;
}
const unpatchedStats: Stats = { scripts: 0, identical: 0, lines: 0, identicalLines: 0 };
const referenceStats: Stats = { scripts: 0, identical: 0, lines: 0, identicalLines: 0 };

function count(stats: Stats, kernel: readonly string[], model: readonly string[]): number[] {
  const diff = differing(kernel, model);
  const total = new Set([...kernel, ...model].map((l) => l.split(' ', 1)[0])).size;
  stats.scripts++;
  stats.lines += total;
  stats.identicalLines += total - diff.length;
  if (diff.length === 0) stats.identical++;
  return diff;
}

describe('the model against Linux 6.1 on the recorded differential scripts', () => {
  it('should have at least 500 recorded scripts, each with its kernel output', () => {
    expect(names.length).toBeGreaterThanOrEqual(500);
    const recorded = new Set(outs(UNPATCHED));
    expect(names.filter((n) => !recorded.has(n))).toEqual([]);
  });

  it('should have a 6.1 + 0001-0002 output for exactly the scripts that oops 6.1', () => {
    const oopsing = names.filter((n) => oopsLine(kernelLines(UNPATCHED, n)) !== undefined);
    expect(oopsing.length).toBeGreaterThan(0);
    expect(outs(PATCHED)).toEqual(oopsing);
  });

  it('should list only scripts that exist', () => {
    expect(Object.keys(KNOWN_DIVERGENCES).filter((n) => !names.includes(n))).toEqual([]);
  });

  it.each(names)('%s', async (name) => {
    const unpatched = kernelLines(UNPATCHED, name);
    const oops = oopsLine(unpatched);
    const reference = oops === undefined ? unpatched : kernelLines(PATCHED, name);
    const model = await interpretScript(readFileSync(`${dir}scripts/${name}.hmm`, 'utf8'));
    const diffUnpatched = count(unpatchedStats, unpatched, model);
    const diff = count(referenceStats, reference, model);
    const known = KNOWN_DIVERGENCES[name];
    if (oops !== undefined) {
      // Both kernels print the same lines before the oops, and so does the model (up to its own
      // listed divergence if that comes first).
      expect(reference.slice(0, unpatched.length - 1)).toEqual(unpatched.slice(0, -1));
      expect(diffUnpatched[0]).toBe(Math.min(oops, known?.line ?? oops));
    }
    if (known === undefined) {
      expect(model).toEqual(reference);
      return;
    }
    // A listed script must diverge first at the line the list names, and agree before it.
    expect(diff[0], `${name} is listed as diverging at line ${known.line} (${known.cause}) but`).toBe(known.line);
  });

  afterAll(() => {
    const figures = (s: Stats) => `scripts identical ${s.identical}/${s.scripts}, lines identical ${s.identicalLines}/${s.lines}`;
    console.log(`differential: against Linux 6.1: ${figures(unpatchedStats)}`);
    console.log(`differential: against Linux 6.1, and 6.1 + 0001-0002 for the scripts that oops 6.1: ${figures(referenceStats)}`);
  });
});
