/**
 * One run of the hmm-tests port in a process of its own, printed as JSON on stdout: the bench
 * runs it in fresh processes, so that what the earlier sections left in the heap and the JIT does
 * not count against the port (as the kernel's own figure is taken on a freshly booted guest).
 */
import { hmmTestsPort } from './hmm-tests.js';

process.stdout.write(`${JSON.stringify(await hmmTestsPort())}\n`);
