import { firstRunnable, Kernel, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, type TraceEvent } from '@hmmlab/core';
import { type DriverDefinition, devPtePfn } from '@hmmlab/harness';
import { describe, expect, it } from 'vitest';
import type { Dmirror } from '../dmirror/dmirror.js';
import dmirror from '../dmirror/driver.js';
import { HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_READ } from '../dmirror/uapi.js';
import fixed from './driver.js';

const PS = 4096;
const PAGES = 4;

/**
 * Mirrors PAGES system pages with a READ, migrates them to the device, and returns, for every
 * page the driver copied from system memory, whether its mirror still mapped that page then.
 */
async function mirroredAtCopy(driver: DriverDefinition<Dmirror>): Promise<{ copies: number; mapped: number; data: number[] }> {
  const k = new Kernel({ pageSize: PS, trace: 'all' });
  const instance = await driver.probe(k);
  const mm = k.createMm();
  const data: number[] = [];
  k.spawn('test', 'cpu', async () => {
    const fd = await instance.bind(mm);
    const a = await mm.mmap(0, PAGES * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    for (let p = 0; p < PAGES; p++) await mm.write(a + p * PS, 100 + p);
    const buf = new Int32Array(PAGES * k.wordsPerPage);
    expect((await fd.cmd(HMM_DMIRROR_READ, { addr: a, npages: PAGES, ptr: buf })).ret).toBe(0);
    expect((await fd.cmd(HMM_DMIRROR_MIGRATE_TO_DEV, { addr: a, npages: PAGES, ptr: buf })).ret).toBe(0);
    for (let p = 0; p < PAGES; p++) data.push(await mm.read(a + p * PS));
    await fd.unbind();
  });
  const r = await k.run(firstRunnable);
  expect(r.status, r.message).toBe('done');
  // Replay the mirror's entries along the trace.
  const mirror = new Map<number, number>();
  let copies = 0;
  let mapped = 0;
  for (const e of k.trace.events() as TraceEvent[]) {
    if (e.type === 'dev-pte') {
      if (e.new === 0) mirror.delete(e.va);
      else mirror.set(e.va, devPtePfn(e.new));
    } else if (e.type === 'page-copy' && e.by === 'hmm_dmirror0' && k.pages.page(e.src).kind === 'system') {
      copies++;
      if ([...mirror.values()].includes(e.src)) mapped++;
    }
  }
  return { copies, mapped, data };
}

describe('dmirror-fixed', () => {
  it('should hold no mirror entry of a system page when it copies it to the device', async () => {
    const r = await mirroredAtCopy(fixed);
    expect(r.copies).toBe(PAGES);
    expect(r.mapped).toBe(0);
    expect(r.data).toEqual([100, 101, 102, 103]);
  });

  it('should differ from dmirror, which copies system pages its mirror still maps writable (A1)', async () => {
    const r = await mirroredAtCopy(dmirror);
    expect(r.copies).toBe(PAGES);
    expect(r.mapped).toBe(PAGES);
    expect(r.data).toEqual([100, 101, 102, 103]);
  });
});
