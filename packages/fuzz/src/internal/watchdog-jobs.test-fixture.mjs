// Jobs for watchdog.test.ts. Driver code starts once a job says its modules have loaded.
import { setFlagsFromString } from 'node:v8';
import { beatDraw, expectRuns, markDrawing, markDrawn, markLoaded, markRun } from './heartbeat.ts';

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

// Whether V8 optimizes a function before and after a campaign of `runs` runs says it starts:
// %OptimizeFunctionOnNextCall compiles it at its next call, at once, with the tiers the flags
// allow, and %GetOptimizationStatus says whether it is optimized (its bit 16). Natives syntax is
// on for code parsed from then on.
export function tiers(runs) {
  setFlagsFromString('--allow-natives-syntax');
  const natives = (body) => new Function('f', body);
  const prepare = natives('%PrepareFunctionForOptimization(f)');
  const optimizeNext = natives('%OptimizeFunctionOnNextCall(f)');
  const status = natives('return %GetOptimizationStatus(f)');
  const optimized = () => {
    const sum = (n) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (i * i) % 7;
      return s;
    };
    prepare(sum);
    sum(10);
    optimizeNext(sum);
    sum(10);
    return (status(sum) & 16) !== 0;
  };
  const before = optimized();
  expectRuns(runs);
  return { noTurbofan: process.execArgv.includes('--no-turbofan'), before, after: optimized() };
}
