/**
 * The device-private fault oops of lib/test_hmm.c (docs/findings/patches/0001): scripts of the
 * differential command language (kernel-oracle DIFF-LANGUAGE.md) that put a page on dmirror0 and
 * then make the mirror lose its entry (mprotect, fork) before a device read. 6.1 oopses in the
 * read; with the patches it prints what docs/findings/oops/kernel-6.1-patched/*.out records. This
 * test runs the same scripts through dmirror-patched, with the model interpreter of the language
 * (test/differential), and expects those lines exactly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import patched from '../../examples/dmirror/patched/driver.js';
import { interpretScript } from './interpreter.js';

const dir = new URL('../../docs/findings/oops/', import.meta.url).pathname;

const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.hmm'))
  .sort();

describe('the device-private fault sequences of docs/findings/oops', () => {
  it('should have the scripts and both kernels outputs', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(2);
  });

  it.each(scripts)('should print for %s what patched 6.1 printed', async (name) => {
    const expected = readFileSync(`${dir}kernel-6.1-patched/${name.replace(/\.hmm$/, '.out')}`, 'utf8')
      .trim()
      .split('\n');
    expect(await interpretScript(readFileSync(`${dir}${name}`, 'utf8'), { driver: patched })).toEqual(expected);
  });

  it.each(scripts)('should record that unpatched 6.1 oopsed in the device read of %s', (name) => {
    const out = readFileSync(`${dir}kernel-6.1/${name.replace(/\.hmm$/, '.out')}`, 'utf8');
    expect(out).toMatch(/dev_read .*kernel-oops/);
  });
});
