import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';

describe('ModelFile', () => {
  it('should read back what was written through the page cache, across pages', () => {
    const k = new Kernel({ pageSize: 256, wordsPerPage: 4 });
    const f = k.createFile('f');
    f.writeWords(3, [1, 2, 3], 4, 256);
    expect(Array.from(f.readWords(2, 5, 4))).toEqual([0, 1, 2, 3, 0]);
    expect(f.size).toBe(6 * 64);
    expect(f.pageCount(256)).toBe(2);
  });

  it('should keep the contents of an evicted page in its store and drop it from the mapping', () => {
    const k = new Kernel({ pageSize: 256, wordsPerPage: 4 });
    const f = k.createFile('f');
    f.writeWords(0, [9], 4, 256);
    const p = f.getPage(0);
    f.evict(p);
    expect([f.cache.size, p.file]).toEqual([0, null]);
    expect(f.getPage(0)).not.toBe(p);
    expect(f.readWords(0, 1, 4)[0]).toBe(9);
  });

  it('should refuse a negative word offset', () => {
    const k = new Kernel();
    expect(() => k.createFile('f').writeWords(-1, [1], 1024, 4096)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});
