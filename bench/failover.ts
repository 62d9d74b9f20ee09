/**
 * `npm run bench:failover`: how fast a fleet on PostgreSQL puts a dead agent's jobs back to work
 * (bench/fleet/failover.ts). Writes the section "Fleet failover" of docs/benchmarks.md.
 *
 * Knobs: BENCH_FAILOVER (runs per case, 5), BENCH_LEASE (node.lease, 3s), BENCH_SHEPHERD_HOSTS=uts
 * (each agent a host of its own), BENCH_DRY=1 (print, do not write docs/benchmarks.md).
 */
import os from 'node:os'

import { failover, FAILOVER_RUNS, failoverSection } from './fleet/failover.js'
import { describeServer } from './fleet/pg.js'
import { machine, writeSection } from './lib.js'

const KNOBS = ['BENCH_FAILOVER', 'BENCH_LEASE', 'BENCH_SHEPHERD_HOSTS']
const COMMAND = [
  ...KNOBS.filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]}`),
  'npm run bench:failover',
].join(' ')

const started = new Date()
const loadBefore = os.loadavg()[0]!
const runs = await failover(FAILOVER_RUNS)
const loadAfter = os.loadavg()[0]!
const body = `## Fleet failover (\`npm run bench:failover\`)

Run ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}; ${await describeServer()}.
Load average ${loadBefore.toFixed(2)} at the start and ${loadAfter.toFixed(2)} at the end (2 cores: above 2, other work shared the machine).
Command: \`${COMMAND}\`.

${failoverSection(runs)}
`
console.log(body)
if (process.env.BENCH_DRY !== '1') writeSection('fleet-failover', body)
