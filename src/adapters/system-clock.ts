/**
 * The real clock: epoch milliseconds that never step backwards (performance.timeOrigin plus the
 * monotonic performance.now()), with sub-millisecond resolution for latency figures.
 * @module
 */
import { performance } from 'node:perf_hooks'

import type { Clock } from '../core/clock.js'

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
}
