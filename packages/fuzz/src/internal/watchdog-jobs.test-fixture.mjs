// Jobs for watchdog.test.ts. Driver code starts once a job says its modules have loaded.
import { markLoaded } from './heartbeat.ts';

export function echo(x) {
  return x;
}
export function fail() {
  throw new RangeError('bad job');
}
export function spin() {
  markLoaded();
  for (;;) {}
}
export function hoard() {
  markLoaded();
  const all = [];
  for (;;) all.push(new Array(1 << 16).fill(all.length));
}
export function grow() {
  markLoaded();
  const one = [];
  for (let i = 0; ; i++) one.push(i);
}
