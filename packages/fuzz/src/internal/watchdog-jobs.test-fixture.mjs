// Jobs for watchdog.test.ts. Driver code starts once a job says its modules have loaded.
import { beatDraw, markDrawing, markDrawn, markLoaded, markRun } from './heartbeat.ts';

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
export function drawForever() {
  markLoaded();
  markRun(7);
  markDrawing();
  for (;;) {}
}
export function drawThenSpin() {
  markLoaded();
  markRun(7);
  const was = markDrawing();
  for (let i = 0; i < 3; i++) beatDraw();
  markDrawn(was);
  for (;;) {}
}
