import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type CallExpression, Node, SyntaxKind } from 'ts-morph';
import { describe, expect, it } from 'vitest';
import { REPO } from '../testing/temp.js';
import { checkerDeclaration, declarationOf } from './builtins.js';
import { Program } from './program.js';

/** Receivers of every `.lock()` call of `files`: what the source says they are, and what the type checker says. */
function receivers(
  program: Program,
  files: readonly string[],
): { text: string; fromSource: Node | undefined; checker: Node | undefined }[] {
  const out: { text: string; fromSource: Node | undefined; checker: Node | undefined }[] = [];
  for (const f of files) {
    for (const call of program.file(f).getDescendantsOfKind(SyntaxKind.CallExpression) as CallExpression[]) {
      const e = call.getExpression();
      if (!Node.isPropertyAccessExpression(e) || e.getName() !== 'lock') continue;
      const recv = e.getExpression();
      out.push({ text: recv.getText(), fromSource: declarationOf(program, recv), checker: checkerDeclaration(recv) });
    }
  }
  return out;
}

/** The receiver's text when both found the same declaration (one node, not two alike), else what each found. */
function agree(r: { text: string; fromSource: Node | undefined; checker: Node | undefined }): string {
  return r.fromSource === r.checker
    ? r.text
    : `${r.text}: ${r.fromSource?.getText()} from the source, ${r.checker?.getText()} from the checker`;
}

/** Driver modules under `dir`, recursively. */
function driverFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name === 'node_modules') continue;
    const d = join(dir, e.name);
    if (existsSync(join(d, 'driver.ts'))) out.push(join(d, 'driver.ts'));
    out.push(...driverFiles(d));
  }
  return out;
}

const LOCKS = `
import type { Kernel } from '@hmmlab/core';
declare const kernel: Kernel;
export const shared = kernel.spinlock('shared');
`;

const FORMS = `
import { type Kernel, type Mutex, type SpinLock } from '@hmmlab/core';
import { shared } from './locks.js';
declare const kernel: Kernel;
class Base { readonly lock: SpinLock = kernel.spinlock('b'); static lock: Mutex = kernel.mutex('s'); }
class Derived extends Base { other = kernel.mutex('o'); }
class Getter extends Base { override get lock(): SpinLock { return kernel.spinlock('g'); } }
class Params { constructor(private readonly lock: Mutex) {} take() { this.lock.lock(); } }
class Holder {
  readonly lock = kernel.spinlock('h');
  f(d: Derived, g: Getter, x: unknown) {
    this.lock.lock();
    const arrow = () => this.lock.lock();
    arrow();
    d.lock.lock();
    g.lock.lock();
    const made = new Derived();
    made.lock.lock();
    const cast = x as Base;
    cast.lock.lock();
    const { lock } = this;
    lock.lock();
    const local = kernel.mutex('l');
    local.lock();
    shared.lock();
    Base.lock.lock();
    function inner(this: Base) { this.lock.lock(); }
    inner.call(new Base());
  }
  static s() { this.lock.lock(); }
}
const ops = { lock: kernel.spinlock('o'), go() { this.lock.lock(); } };
ops.go();
`;

describe('declarationOf (the source, for the type checker)', () => {
  it('should find what the type checker finds, or leave it to the checker, for every form of receiver', () => {
    const program = new Program('lint', REPO);
    program.addText(join(REPO, 'locks.ts'), LOCKS);
    program.addText(join(REPO, 'forms.ts'), FORMS);
    const rs = receivers(program, [join(REPO, 'forms.ts')]);
    expect(rs).toHaveLength(14);
    for (const r of rs) if (r.fromSource !== undefined) expect(agree(r)).toBe(r.text);
    // The forms the source answers: locals, parameters, fields of this, of a declared, cast or made class.
    expect(rs.filter((r) => r.fromSource !== undefined).map((r) => r.text)).toEqual([
      'this.lock', // Params: a parameter property
      'this.lock',
      'this.lock', // in an arrow function
      'd.lock', // a field of Derived's base
      'made.lock',
      'cast.lock',
      'local',
      'shared', // imported: the exported declaration
    ]);
  });

  it('should find what the type checker finds for the receiver of every lock() of the example drivers', () => {
    // One program of every example driver and what it imports: one type checker for all of them.
    const program = new Program('lint', REPO);
    const files = new Set<string>();
    const queue = driverFiles(join(REPO, 'examples'));
    while (queue.length > 0) {
      const f = queue.pop() as string;
      if (files.has(f)) continue;
      files.add(f);
      const sf = program.file(f);
      for (const d of sf.getImportDeclarations()) {
        const target = program.resolveModule(sf, d.getModuleSpecifierValue());
        if (target !== undefined) queue.push(target.getFilePath());
      }
    }
    const all = receivers(program, [...files]);
    const rs = all.filter((r) => r.fromSource !== undefined);
    for (const r of rs) expect(agree(r)).toBe(r.text);
    // The source answers for nearly all of them (74 of 78 when written): the checker is the exception.
    expect(rs.length / all.length).toBeGreaterThan(0.9);
  });
});
