import { describe, expect, it } from 'vitest';
import { Kernel } from '../kernel.js';
import { createDevice, mapAnon, migrate } from '../test-helpers.js';
import { MEMORY_DEVICE_COHERENT, MEMORY_DEVICE_PRIVATE, memremapPages, memunmapPages, zoneDevicePageInit } from './memremap.js';

const ops = { pageFree() {}, migrateToRam: () => 0 };

describe('memremapPages', () => {
  it.each([
    ['a missing owner', { type: MEMORY_DEVICE_PRIVATE, owner: undefined, nrPages: 1, ops, name: 'd' }, 'ERR_BAD_ARGUMENT'],
    ['no pages', { type: MEMORY_DEVICE_PRIVATE, owner: {}, nrPages: 0, ops, name: 'd' }, 'ERR_BAD_ARGUMENT'],
    [
      'a private pgmap without migrateToRam',
      { type: MEMORY_DEVICE_PRIVATE, owner: {}, nrPages: 1, ops: { pageFree() {} }, name: 'd' },
      'ERR_BAD_ARGUMENT',
    ],
    ['an unknown type', { type: 3, owner: {}, nrPages: 1, ops, name: 'd' }, 'ERR_BAD_ARGUMENT'],
  ])('should refuse %s', (_what, o, code) => {
    expect(() => memremapPages(new Kernel(), o as never)).toThrow(expect.objectContaining({ code }));
  });

  it('should refuse MEMORY_DEVICE_COHERENT before v6.0', () => {
    expect(() =>
      memremapPages(new Kernel({ profile: '5.14' }), { type: MEMORY_DEVICE_COHERENT, owner: {}, nrPages: 1, ops, name: 'c' }),
    ).toThrow(expect.objectContaining({ code: 'ERR_PROFILE' }));
  });

  it('should create free device pages with the pgmap owner', () => {
    const k = new Kernel();
    const owner = {};
    const pg = memremapPages(k, { type: MEMORY_DEVICE_PRIVATE, owner, nrPages: 2, ops, name: 'd' });
    expect(pg.pages.map((p) => [p.kind, p.free, p.pgmap?.owner === owner])).toEqual([
      ['device-private', true, true],
      ['device-private', true, true],
    ]);
    expect(pg.startPfn).toBe(pg.pages[0]?.pfn);
  });
});

describe('zoneDevicePageInit', () => {
  it('should hand out a locked page with one reference, once', () => {
    const k = new Kernel();
    const pg = memremapPages(k, { type: MEMORY_DEVICE_PRIVATE, owner: {}, nrPages: 1, ops, name: 'd' });
    const p = pg.pages[0];
    if (p === undefined) throw new Error('no page');
    zoneDevicePageInit(p);
    expect([p.refcount, p.locked, p.free]).toEqual([1, true, false]);
    expect(() => zoneDevicePageInit(p)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(() => zoneDevicePageInit(k.pages.allocPage())).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }));
  });
});

describe('memunmapPages', () => {
  it('should refuse while a page is in use and succeed once all are free', async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const dev = createDevice(k, { pages: 2 });
    const a = await mapAnon(mm, 1);
    await mm.write(a, 1);
    await migrate(dev, mm, a, a + k.pageSize, 'device');
    expect(() => memunmapPages(dev.pgmap)).toThrow(expect.objectContaining({ code: 'ERR_STATE' }));
    expect(await mm.read(a)).toBe(1);
    memunmapPages(dev.pgmap);
    expect(dev.pgmap.unmapped).toBe(true);
  });

  it('should report a throwing page_free as a driver callback error', () => {
    const k = new Kernel();
    const pg = memremapPages(k, {
      type: MEMORY_DEVICE_PRIVATE,
      owner: {},
      nrPages: 1,
      ops: {
        pageFree() {
          throw new Error('oops');
        },
        migrateToRam: () => 0,
      },
      name: 'bad',
    });
    const p = pg.pages[0];
    if (p === undefined) throw new Error('no page');
    zoneDevicePageInit(p);
    k.pages.unlockPage(p);
    expect(() => k.pages.putPage(p)).toThrow(expect.objectContaining({ name: 'DriverCallbackError', context: 'pgmap "bad" page_free' }));
  });
});
