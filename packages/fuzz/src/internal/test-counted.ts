/** A driver module for the fuzz package's specs: the flushing mirror, counting the runs it is probed in. */
import { defineDriver } from '@hmmlab/harness';
import { mirror } from './test-mirror.js';

const flushing = mirror(true);

/** Probes so far in this thread: one per run, and the load's probe and scratch run. */
export const probes = { count: 0 };

export default defineDriver({
  ...flushing,
  probe(kernel) {
    probes.count++;
    return flushing.probe(kernel);
  },
});
