// A job worker that does nothing but say when it began the job (epoch ms, sub-ms precision, the
// same clock as the benchmark's process): the latency part of bench/fleet.ts reads it back.
import { work } from 'shepherd/worker'
work(() => ({ startedAt: performance.timeOrigin + performance.now() }))
