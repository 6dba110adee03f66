/** A driver module for the fuzz package's specs: the mirror that clears its page table without a TLB flush. */
import { mirror } from './test-mirror.js';

export default mirror(false);
