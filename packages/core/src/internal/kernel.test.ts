import { describe, expect, it } from 'vitest';
import { Kernel } from './kernel.js';
import { Trace } from './trace.js';

describe('Kernel', () => {
  it.each([[100], [32], [4095.5]])('should refuse the page size %s', (pageSize) => {
    expect(() => new Kernel({ pageSize })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });

  it.each([[3], [0], [8192]])('should refuse %s words per 4096-byte page', (wordsPerPage) => {
    expect(() => new Kernel({ wordsPerPage })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });

  it('should refuse a misspelt option, naming the options, rather than model the default kernel', () => {
    expect(() => new Kernel({ pagesize: 8192 } as never)).toThrow(
      'Kernel: unknown option "pagesize"; the options are pageSize, wordsPerPage, profile, trace, thp, hugePages, profileOverrides',
    );
    expect(() => new Kernel({ hugepages: 4 } as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });

  it('should derive the word size and default to byte-exact 4-byte words', () => {
    expect(new Kernel().wordSize).toBe(4);
    expect(new Kernel({ pageSize: 256, wordsPerPage: 4 }).wordSize).toBe(64);
  });

  it('should use the profile given, per kernel and per mm', () => {
    const k = new Kernel({ profile: '5.9' });
    expect(k.profile.name).toBe('5.9');
    expect(k.createMm().profile.name).toBe('5.9');
    expect(k.createMm('latest').profile.name).toBe('latest');
  });

  it('should apply profile overrides to every mm', () => {
    const k = new Kernel({ profileOverrides: { exclusiveRestoreOwner: 'caller' } });
    expect(k.createMm('5.14').profile.exclusiveRestoreOwner).toBe('caller');
  });

  it('should use a trace it is given', () => {
    const t = new Trace('all');
    expect(new Kernel({ trace: t }).trace).toBe(t);
  });

  it('should align addresses down and up to pages', () => {
    const k = new Kernel();
    expect([k.pageAlignDown(4097), k.pageAlign(4097), k.pageAlign(8192)]).toEqual([4096, 8192, 8192]);
  });

  it.each([[64], [4096], [65536]])('should give the offset in a page of %i bytes as x %% pageSize does, for any address', (pageSize) => {
    const k = new Kernel({ pageSize });
    const xs = [
      0,
      1,
      pageSize - 1,
      pageSize,
      pageSize + 1,
      2 ** 31 + 5,
      0x7f0000000000 + 4 * 7,
      0x7fffffffffff,
      2 ** 53 - 1,
      2 ** 64,
      -1,
      -pageSize - 3,
    ];
    for (let i = 0; i < 64; i++) xs.push(0x7f0000000000 + i * 4093 * 977);
    for (const x of xs) {
      expect(k.pageOffset(x)).toBe((x % pageSize) + 0);
      expect(k.pageAlignDown(x)).toBe(x - (x % pageSize));
    }
  });

  it('should list every mm in creation order, forked children included', async () => {
    const k = new Kernel();
    const a = k.createMm();
    const b = await a.fork();
    expect(k.allMms()).toEqual([a, b]);
  });

  it('should record a WARN event', () => {
    const k = new Kernel({ trace: 'all' });
    k.warn('what', 'detail');
    expect(k.trace.events()).toEqual([expect.objectContaining({ type: 'warn', what: 'what', detail: 'detail', task: 0 })]);
  });
});
