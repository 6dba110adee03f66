import { describe, expect, it } from 'vitest';
import { firstRunnable, formatPte, Kernel, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../index.js';

describe('smoke', () => {
  it('should map, write, read, munmap', async () => {
    const k = new Kernel({ trace: 'all' });
    const mm = k.createMm();
    let out = 0;
    k.spawn('cpu', 'cpu', async () => {
      const a = await mm.mmap(0, 4096 * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      await mm.write(a + 8, 42);
      out = await mm.read(a + 8);
      expect(formatPte(mm.pte(a))).toContain('present');
      expect(await mm.munmap(a, 4096 * 4)).toBe(0);
    });
    const r = await k.run(firstRunnable);
    expect(r.status, r.message).toBe('done');
    expect(out).toBe(42);
  });
});
