import { fc } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { checkOptionNames, EINVAL, EOVERFLOW, errnoName, HmmlabError, hex } from './errors.js';

describe('errnoName', () => {
  it.each([
    [-EINVAL, '-EINVAL'],
    [-EOVERFLOW, '-EOVERFLOW'],
    [0, '0'],
    [3, '3'],
    [-999, '-999'],
  ])('should name %i as %s', (n, name) => {
    expect(errnoName(n)).toBe(name);
  });
});

describe('hex', () => {
  it('should format addresses', () => {
    expect([hex(0x1000), hex(-16)]).toEqual(['0x1000', '-0x10']);
  });

  it('should give the digits toString(16) gives, above 2^32 too', () => {
    const at = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 0x7f0000001000, 0x7fffffffffff, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 0.5, 2 ** 40 + 0.5];
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(...at), fc.maxSafeInteger(), fc.integer({ min: 0, max: 2 ** 48 }), fc.double({ noNaN: true })),
        (n) => {
          expect(hex(n)).toBe(n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);
          expect(hex(-n)).toBe(-n < 0 ? `-0x${n.toString(16)}` : `0x${(-n).toString(16)}`);
        },
      ),
      { seed: 16, numRuns: 2000 },
    );
  });
});

describe('HmmlabError', () => {
  it('should carry a stable code and name', () => {
    const e = new HmmlabError('ERR_STATE', 'api: bad');
    expect([e.code, e.name, e.message, e instanceof Error]).toEqual(['ERR_STATE', 'HmmlabError', 'api: bad', true]);
  });
});

describe('checkOptionNames', () => {
  const fields = { runs: true, seed: true } as const;

  it('should accept the fields it names, set or not', () => {
    checkOptionNames('f', {}, fields);
    checkOptionNames('f', { runs: 1, seed: undefined }, fields);
  });

  it('should refuse the first field it does not name, listing the ones it does', () => {
    expect(() => checkOptionNames('f', { runs: 1, seeds: 2 }, fields)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: 'f: unknown option "seeds"; the options are runs, seed' }),
    );
  });

  it("should not take a field of Object's prototype for one it names", () => {
    expect(() => checkOptionNames('f', { toString: 1 }, fields)).toThrow('f: unknown option "toString"');
  });
});
