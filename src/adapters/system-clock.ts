/**
 * The real clock: whole epoch milliseconds that never step backwards (performance.timeOrigin plus
 * the monotonic performance.now()), so a wall-clock step (NTP, a VM resuming) never makes a
 * duration negative. Benchmarks that need sub-millisecond figures read performance.now() themselves.
 * @module
 */
import { performance } from 'node:perf_hooks'

import type { Clock } from '../ports/clock.js'

export const systemClock: Clock = {
  now: () => Math.round(performance.timeOrigin + performance.now()),
}
