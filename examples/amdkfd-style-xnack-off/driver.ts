/**
 * amdkfd-style, XNACK off: the same driver (examples/amdkfd-style) with GPU faults fatal. Ranges
 * are mapped ahead; an eviction quiesces the queues and a delayed restore worker revalidates and
 * remaps before resuming them (N7). See README.md.
 */
import { amdkfdDriver } from '../amdkfd-style/kfd.js';

export default amdkfdDriver({ name: 'amdkfd-style-xnack-off', xnack: false });
