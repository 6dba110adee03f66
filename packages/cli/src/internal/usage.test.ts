import { describe, expect, it, vi } from 'vitest';
import { intOption, UsageError, warnOverCores } from './usage.js';

describe('intOption', () => {
  it('should read decimal digits and refuse every other way of writing a number', () => {
    expect(intOption('runs', '1000', 1)).toBe(1000);
    for (const v of ['1e3', '0x10', ' 7', '1.0', '']) expect(() => intOption('runs', v, 1)).toThrow(UsageError);
  });
});

describe('warnOverCores', () => {
  it('should warn when more workers than cores are asked for, and only then', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      warnOverCores(2, 2);
      expect(write).not.toHaveBeenCalled();
      warnOverCores(3, 2);
      expect(write).toHaveBeenCalledWith(expect.stringContaining('--workers 3 on a machine with 2 core(s)'));
    } finally {
      write.mockRestore();
    }
  });
});
