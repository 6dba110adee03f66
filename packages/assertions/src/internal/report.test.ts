import { describe, expect, it } from 'vitest';
import { formatEvent, formatOwner, formatViolation, type Violation } from './report.js';

class GpuDevice {
  readonly device = { name: 'gpu1' };
}
class Hive {
  readonly ctx = () => 0;
}

describe('formatOwner', () => {
  it('should name the device an owner stands for', () => {
    expect(formatOwner({ device: 'gpu0' })).toBe('owner of gpu0');
    expect(formatOwner({ name: 'hive A' })).toBe('hive A');
    expect(formatOwner(new GpuDevice())).toBe('owner of gpu1');
  });

  it('should name an instance of a class by its class, and nothing else by a kind', () => {
    expect(formatOwner(new Hive())).toBe('a Hive');
    expect(formatOwner({})).toBe('object');
    expect(formatOwner(null)).toBe('none');
    expect(formatOwner(undefined)).toBe('none');
    expect(formatOwner(7)).toBe('7');
  });
});

describe('formatEvent', () => {
  it('should say what a shared-state access read or wrote, and whether atomically', () => {
    const at = { seq: 1, step: 2, task: 3 };
    expect(formatEvent({ ...at, type: 'shared-access', obj: 1, name: 'gpu0 bind fences', key: '', write: true, atomic: false })).toBe(
      'write shared "gpu0 bind fences"',
    );
    expect(formatEvent({ ...at, type: 'shared-access', obj: 2, name: 'gpu0 tile_present', key: '7', write: false, atomic: true })).toBe(
      'read shared "gpu0 tile_present"[7] (atomic)',
    );
  });
});

describe('formatViolation', () => {
  it('should list the entries a callback changed without clearing them apart from those it cleared', () => {
    const v: Violation = {
      rule: 'missed-flush',
      explanation: 'x',
      step: 1,
      seq: 1,
      task: 't#1',
      mm: null,
      va: null,
      page: null,
      device: null,
      invalidation: null,
      callbacks: [
        {
          sub: 'wp',
          op: 'invalidate-range-start',
          result: '0',
          setSeq: false,
          cleared: ['gpu0 0x1000 (changed, not cleared)'],
          flushes: [],
        },
        {
          sub: 'zap',
          op: 'invalidate',
          result: 'true',
          setSeq: true,
          cleared: ['gpu0 0x2000', 'gpu0 0x3000 (changed, not cleared)'],
          flushes: [],
        },
      ],
      translations: [],
      context: null,
      trace: [],
    };
    const text = formatViolation(v);
    expect(text).toContain(
      '    wp invalidate-range-start → 0: no set_seq; cleared nothing; changed without clearing gpu0 0x1000; no flush',
    );
    expect(text).toContain('    zap invalidate → true: set_seq; cleared gpu0 0x2000; changed without clearing gpu0 0x3000; no flush');
  });
});
