/**
 * amdkfd-style, XNACK on: a hive of two GPUs with retry faults. An eviction unmaps the range from
 * both GPUs and waits for their TLB invalidations; the GPUs fault the pages back in. See README.md.
 */
import { amdkfdDriver } from './kfd.js';

export default amdkfdDriver({ name: 'amdkfd-style', xnack: true });
