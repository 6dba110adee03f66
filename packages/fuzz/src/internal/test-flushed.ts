/** A driver module for the fuzz package's specs: the mirror that flushes its TLB (correct). */
import { mirror } from './test-mirror.js';

export default mirror(true);
