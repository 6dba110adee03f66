import { describe, expect, it } from 'vitest';
import { EINVAL, EOVERFLOW, errnoName, HmmlabError, hex } from './errors.js';

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
});

describe('HmmlabError', () => {
  it('should carry a stable code and name', () => {
    const e = new HmmlabError('ERR_STATE', 'api: bad');
    expect([e.code, e.name, e.message, e instanceof Error]).toEqual(['ERR_STATE', 'HmmlabError', 'api: bad', true]);
  });
});
