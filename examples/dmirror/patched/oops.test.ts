/**
 * The device-private fault oops of lib/test_hmm.c (docs/findings/patches/0001): scripts of the
 * differential command language (kernel-oracle DIFF-LANGUAGE.md) that put a page on dmirror0 and
 * then make the mirror lose its entry (mprotect, fork) before a device read. 6.1 oopses in the
 * read; with the patches it prints what docs/findings/oops/kernel-6.1-patched/*.out records. This
 * test runs the same scripts through dmirror-patched, with a small interpreter of the verbs they
 * use, and expects those lines exactly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { firstRunnable, Kernel, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, type Mm, PROT_READ, PROT_WRITE } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import type { Dmirror } from '../dmirror.js';
import { HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_READ, HMM_DMIRROR_SNAPSHOT } from '../uapi.js';
import patched from './driver.js';

const dir = new URL('../../../docs/findings/oops/', import.meta.url).pathname;
const PS = 4096;
const WORDS = PS / 4;
const SLOT = 0x100000000000;
const SLOT_SIZE = 16 * 1024 * 1024;

/** A page's data token: `V` for the words V, V+1, …; `z` for zeros; `!<fnv1a-32>` otherwise. */
function token(words: Int32Array): string {
  if (words.every((w) => w === 0)) return 'z';
  const v = words[0] as number;
  if (words.every((w, i) => ((w - v - i) | 0) === 0)) return (v >>> 0).toString(16);
  let h = 0x811c9dc5;
  for (const b of new Uint8Array(words.buffer, words.byteOffset, words.byteLength)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `!${h.toString(16).padStart(8, '0')}`;
}

/** Comma-separated tokens, identical neighbours as `tok*count`. */
function list(tokens: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; ) {
    let j = i;
    while (tokens[j + 1] === tokens[i]) j++;
    out.push(j > i ? `${tokens[i]}*${j - i + 1}` : (tokens[i] as string));
    i = j + 1;
  }
  return out.join(',');
}

const pattern = (v: number, pages: number) => Int32Array.from({ length: pages * WORDS }, (_, i) => (v + i) | 0);
const pagesOf = (buf: Int32Array, n: number) => Array.from({ length: n }, (_, p) => token(buf.subarray(p * WORDS, (p + 1) * WORDS)));

/** Runs one script in a fresh model kernel (profile 6.1) and returns its output lines. */
async function interpret(script: string): Promise<string[]> {
  const k = new Kernel({ pageSize: PS, wordsPerPage: WORDS, profile: '6.1', trace: 'none' });
  const instance = await patched.probe(k);
  const mm = k.createMm();
  const out: string[] = [];
  k.spawn('hmm-diff', 'cpu', async () => {
    const fds = new Map<number, Dmirror>();
    const sizes = new Map<number, number>();
    let child: Mm | null = null;
    const dev = async (t: string) => {
      const n = Number(t.slice(1));
      let fd = fds.get(n);
      if (fd === undefined) {
        fd = await instance.bind(mm, { device: n });
        fds.set(n, fd);
      }
      return fd;
    };
    const addr = (b: string, page: string) => SLOT + Number(b.slice(1)) * SLOT_SIZE + Number(page) * PS;
    const lines = script.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const words = (lines[i] as string).replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
      const [verb, ...a] = words;
      if (verb === undefined) continue;
      let r: string;
      switch (verb) {
        case 'mmap': {
          const [b, n] = a as [string, string];
          const va = await mm.mmap(addr(b, '0'), Number(n) * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
          sizes.set(Number(b.slice(1)), Number(n));
          r = va === addr(b, '0') ? 'ok' : `err=${va}`;
          break;
        }
        case 'cpu_write': {
          const [b, p, v] = a as [string, string, string];
          await mm.writeRange(addr(b, p), pattern(Number(v), 1));
          r = 'ok';
          break;
        }
        case 'mprotect': {
          const [b, p, n, prot] = a as [string, string, string, string];
          const ret = await mm.mprotect(addr(b, p), Number(n) * PS, prot === 'r' ? PROT_READ : PROT_READ | PROT_WRITE);
          r = ret === 0 ? 'ok' : `err=${ret}`;
          break;
        }
        case 'migrate_to_dev':
        case 'dev_read':
        case 'snapshot': {
          const [d, b, p, n] = a as [string, string, string, string];
          const npages = Number(n);
          const fd = await dev(d);
          if (verb === 'snapshot') {
            const perm = new Uint8Array(npages);
            const c = await fd.cmd(HMM_DMIRROR_SNAPSHOT, { addr: addr(b, p), npages, ptr: perm });
            r = `ok cpages=${c.cpages} prot=${[...perm].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
          } else {
            const buf = new Int32Array(npages * WORDS);
            const c = await fd.cmd(verb === 'dev_read' ? HMM_DMIRROR_READ : HMM_DMIRROR_MIGRATE_TO_DEV, {
              addr: addr(b, p),
              npages,
              ptr: buf,
            });
            const data = list(pagesOf(buf, npages));
            r = verb === 'dev_read' ? `ok cpages=${c.cpages} faults=${c.faults} data=${data}` : `ok cpages=${c.cpages} data=${data}`;
          }
          break;
        }
        case 'fork_hold':
          child = await mm.fork();
          r = 'ok';
          break;
        case 'child_exit':
          await child?.exit();
          child = null;
          r = 'ok';
          break;
        case 'cpu_dump': {
          const [b] = a as [string];
          const n = sizes.get(Number(b.slice(1))) ?? 0;
          r = `ok data=${list(pagesOf(await mm.readRange(addr(b, '0'), n * WORDS), n))}`;
          break;
        }
        default:
          throw new Error(`verb ${verb} is not in this interpreter`);
      }
      out.push(`${i + 1} ${verb} ${r}`);
    }
    for (const fd of fds.values()) await fd.unbind();
  });
  const run = await k.run(firstRunnable);
  expect(run.status, run.message).toBe('done');
  return out;
}

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
    expect(await interpret(readFileSync(`${dir}${name}`, 'utf8'))).toEqual(expected);
  });

  it.each(scripts)('should record that unpatched 6.1 oopsed in the device read of %s', (name) => {
    const out = readFileSync(`${dir}kernel-6.1/${name.replace(/\.hmm$/, '.out')}`, 'utf8');
    expect(out).toMatch(/dev_read .*kernel-oops/);
  });
});
