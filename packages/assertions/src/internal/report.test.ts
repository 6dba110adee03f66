import { describe, expect, it } from 'vitest';
import { formatEvent, formatOwner } from './report.js';

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
