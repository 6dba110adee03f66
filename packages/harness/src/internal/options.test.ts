/**
 * Device options and driver definitions given with a misspelt field or a value outside the
 * documented ones are refused, naming them: taken as they were, they modelled another device or
 * another driver than the one described, without a word.
 */
import { Kernel } from '@hmmlab/core';
import { describe, expect, it } from 'vitest';
import { Device, type DeviceOptions } from './device.js';
import { type DriverDefinition, defineDriver } from './driver.js';

const migrateToRam = (): Promise<number> => Promise.resolve(0);

describe('Device options', () => {
  it.each([
    [
      'a misspelt option',
      { name: 'gpu0', walkCach: { span: 2 ** 21 } },
      /Device gpu0: unknown option "walkCach"; the options are name, owner, faultMode, tlb, pageSize, walkCache, atomics, memory/,
    ],
    ['an unknown fault mode', { name: 'gpu0', faultMode: 'retry' }, /faultMode "retry": expected "replayable" or "fatal"/],
    ['a TLB flag given as a string', { name: 'gpu0', tlb: 'no' }, /tlb "no": expected true or false/],
    ['an unknown atomics mode', { name: 'gpu0', atomics: 'none' }, /atomics "none": expected "write" or "exclusive"/],
    [
      'an unknown memory type',
      { name: 'gpu0', memory: { type: 'vram', pages: 4, migrateToRam } },
      /memory.type "vram": expected "private" or "coherent"/,
    ],
    ['a misspelt memory field', { name: 'gpu0', memory: { type: 'private', page: 4, migrateToRam } }, /memory: unknown field "page"/],
  ])('should refuse %s', (_what, options, message) => {
    expect(() => new Device(new Kernel(), options as unknown as DeviceOptions)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('should take every documented option', () => {
    const d = new Device(new Kernel(), {
      name: 'gpu0',
      owner: { gpu: 0 },
      faultMode: 'fatal',
      tlb: false,
      pageSize: 65536,
      walkCache: { span: 2 ** 21 },
      atomics: 'exclusive',
      memory: { type: 'coherent', pages: 4, migrateToRam },
    });
    expect([d.faultMode, d.hasTlb, d.pageSize, d.walkSpan, d.atomics]).toEqual(['fatal', false, 65536, 2 ** 21, 'exclusive']);
  });
});

describe('defineDriver', () => {
  const probe: DriverDefinition['probe'] = () => ({ devices: [], bind: () => Promise.reject(new Error('not bound')) });

  it('should refuse a misspelt field, naming it and the fields there are', () => {
    expect(() => defineDriver({ name: 'two-gpus', probe, bindDevice: 2 } as unknown as DriverDefinition)).toThrow(
      expect.objectContaining({
        code: 'ERR_BAD_ARGUMENT',
        message: expect.stringMatching(
          /driver "two-gpus" has an unknown field "bindDevice"; the fields are name, description, profiles, commands, bindDevices/,
        ),
      }),
    );
  });

  it('should take every documented field', () => {
    const d = defineDriver({
      name: 'all',
      description: 'd',
      profiles: ['6.1'],
      commands: ['q'],
      bindDevices: 2,
      profileOverrides: {},
      probe,
    });
    expect(d.bindDevices).toBe(2);
  });
});

describe('DeviceVm entry updates', () => {
  const setUp = () => {
    const k = new Kernel({ trace: 'all' });
    const vm = new Device(k, { name: 'gpu0' }).createVm(k.createMm(), {});
    return { k, vm, page: k.pages.allocPage() };
  };

  it.each([
    ['NaN', Number.NaN],
    ['a fraction', 4096.5],
    ['a negative number', -4096],
  ])('should refuse %s as the address of an entry, which no access would reach', (_what, va) => {
    const { vm, page } = setUp();
    expect(() => vm.setPte(va, page, { write: true })).toThrow(
      expect.objectContaining({
        code: 'ERR_BAD_ARGUMENT',
        message: `gpu0 vm ${vm.id} setPte: va ${String(va)} is not an address (a non-negative integer)`,
      }),
    );
    expect(() => vm.clearPte(va)).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/clearPte: va .* is not an address/) }),
    );
    expect(vm.pt.size).toBe(0);
  });

  it('should refuse a missing page', () => {
    const { vm } = setUp();
    expect(() => vm.setPte(0x7f0000000000, null as never, { write: false })).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: `gpu0 vm ${vm.id} setPte: page null is not a struct page` }),
    );
  });

  it('should map and clear a page at any address of it, as before', () => {
    const { k, vm, page } = setUp();
    vm.setPte(0x7f0000000000 + 8, page, { write: true });
    expect([...vm.pt.keys()]).toEqual([0x7f0000000000 / k.pageSize]);
    vm.clearPte(0x7f0000000000);
    expect(vm.pt.size).toBe(0);
  });
});
