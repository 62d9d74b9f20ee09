// A job worker that does nothing, and says once it exits how many jobs it ran and when the first
// started and the last ended: for a store that keeps no done jobs (keep_done: 0), where the rows
// cannot tell. Writes `{ ran, first, last }` (epoch ms) to BENCH_COUNT_DIR/<pid>.json.
import { writeFileSync } from 'node:fs'
import path from 'node:path'

import { work } from 'shepherd/worker'

let ran = 0
let first = null
let last = null
const now = () => performance.timeOrigin + performance.now()
process.on('exit', () =>
  writeFileSync(
    path.join(process.env.BENCH_COUNT_DIR, `${process.pid}.json`),
    JSON.stringify({ ran, first, last }),
  ),
)
work(() => {
  if (ran++ === 0) first = now()
  last = now()
})
