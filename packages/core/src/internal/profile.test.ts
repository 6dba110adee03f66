import { describe, expect, it } from 'vitest';
import { MMU_NOTIFY_CLEAR, MMU_NOTIFY_EXCLUSIVE, MMU_NOTIFY_MIGRATE } from './notifier/range.js';
import { kernelProfile, PROFILE_NAMES } from './profile.js';

describe('kernelProfile', () => {
  it.each([
    ['5.8', MMU_NOTIFY_CLEAR, null, MMU_NOTIFY_CLEAR, null, MMU_NOTIFY_EXCLUSIVE],
    ['seed', MMU_NOTIFY_MIGRATE, 'data', MMU_NOTIFY_CLEAR, null, MMU_NOTIFY_EXCLUSIVE],
    ['5.9', MMU_NOTIFY_MIGRATE, 'migratePgmapOwner', MMU_NOTIFY_CLEAR, null, MMU_NOTIFY_EXCLUSIVE],
    ['5.14', MMU_NOTIFY_MIGRATE, 'owner', MMU_NOTIFY_MIGRATE, 'range', MMU_NOTIFY_EXCLUSIVE],
    ['6.1', MMU_NOTIFY_MIGRATE, 'owner', MMU_NOTIFY_MIGRATE, 'range', MMU_NOTIFY_EXCLUSIVE],
    ['latest', MMU_NOTIFY_MIGRATE, 'owner', MMU_NOTIFY_MIGRATE, 'single', MMU_NOTIFY_CLEAR],
  ] as const)('should describe %s', (name, collect, field, holeFill, exclusive, restore) => {
    const p = kernelProfile(name);
    expect([p.collectEvent, p.ownerField, p.holeFillEvent, p.exclusive, p.exclusiveRestoreEvent]).toEqual([
      collect,
      field,
      holeFill,
      exclusive,
      restore,
    ]);
  });

  it('should list the profiles oldest first', () => {
    expect(PROFILE_NAMES).toEqual(['5.8', 'seed', '5.9', '5.14', '6.1', 'latest']);
  });

  it('should refuse an unknown name and an unknown override', () => {
    expect(() => kernelProfile('4.19')).toThrow(expect.objectContaining({ code: 'ERR_PROFILE' }));
    expect(() => kernelProfile('latest', { nope: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_PROFILE' }));
  });

  it('should apply an override without changing the stored profile', () => {
    expect(kernelProfile('latest', { collectEvent: MMU_NOTIFY_CLEAR }).collectEvent).toBe(MMU_NOTIFY_CLEAR);
    expect(kernelProfile('latest').collectEvent).toBe(MMU_NOTIFY_MIGRATE);
  });
});
