/**
 * A short scenario of the core model: a CPU thread writes and then unmaps a buffer while a mirror
 * (an interval notifier with its own page table) faults the buffer in through hmmRangeFault and
 * the collision-retry protocol. Prints what happened, step by step.
 */
import {
  eventName,
  formatPte,
  HMM_PFN_REQ_FAULT,
  hmmPfnToPfn,
  hmmRangeFault,
  Kernel,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  PROT_READ,
  PROT_WRITE,
  seededDecisions,
  type TraceEvent,
} from '@hmmlab/core';

const k = new Kernel({ trace: 'all', wordsPerPage: 4 });
const mm = k.createMm();
const lock = k.mutex('mirror.lock');
const mirror = new Map<number, number>(); // va -> pfn: the device's page table
const mni = new MmuIntervalNotifier('mirror');
const PAGES = 4;
let base = 0;

k.spawn('setup+cpu', 'cpu', async () => {
  base = await mm.mmap(0, PAGES * k.pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  await mmuIntervalNotifierInsert(mni, mm, base, PAGES * k.pageSize, {
    async invalidate(sub, range, curSeq) {
      await lock.lock();
      mmuIntervalSetSeq(sub, curSeq);
      for (let va = range.start; va < range.end; va += k.pageSize) mirror.delete(va);
      lock.unlock();
      return true;
    },
  });
  k.spawn('device', 'device', async () => {
    const pfns = new Array<number>(PAGES).fill(0);
    for (let tries = 0; tries < 100; tries++) {
      const seq = await mmuIntervalReadBegin(mni);
      await mm.mmapLock.downRead();
      const ret = await hmmRangeFault({
        notifier: mni,
        notifierSeq: seq,
        start: base,
        end: base + PAGES * k.pageSize,
        hmmPfns: pfns,
        defaultFlags: HMM_PFN_REQ_FAULT,
        pfnFlagsMask: 0,
        devPrivateOwner: undefined,
      });
      mm.mmapLock.upRead();
      if (ret !== 0) return;
      await lock.lock();
      if (mmuIntervalReadRetry(mni, seq)) {
        lock.unlock();
        continue;
      }
      for (let i = 0; i < PAGES; i++) mirror.set(base + i * k.pageSize, hmmPfnToPfn(pfns[i] ?? 0));
      lock.unlock();
      return;
    }
  });
  for (let i = 0; i < PAGES; i++) await mm.write(base + i * k.pageSize, 100 + i);
  await mm.munmap(base + 2 * k.pageSize, k.pageSize);
});

const result = await k.run(seededDecisions(Number(process.argv[2] ?? 7)));
const show = (e: TraceEvent): string | null => {
  switch (e.type) {
    case 'inv-start':
      return `invalidation #${e.inv} ${eventName(e.event)} [0x${e.start.toString(16)}, 0x${e.end.toString(16)})`;
    case 'inv-callback':
      return e.phase === 'return' ? `  ${e.sub} ${e.op} returned ${String(e.result)}` : null;
    case 'pte':
      return `  pte 0x${e.va.toString(16)}: ${formatPte(e.old)} -> ${formatPte(e.new)} (${e.why})`;
    case 'set-seq':
      return `  ${e.sub}: set_seq ${e.curSeq}`;
    case 'task-exit':
      return `task #${e.id} ${e.outcome}`;
    default:
      return null;
  }
};
for (const e of k.trace.events()) {
  const line = show(e);
  if (line !== null) console.log(`step ${String(e.step).padStart(3)}  ${line}`);
}
console.log(`\n${result.message}; mirror maps ${mirror.size} page(s): ${[...mirror.keys()].map((v) => `0x${v.toString(16)}`).join(', ')}`);
