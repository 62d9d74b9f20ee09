// An SDK worker that idles until SIGUSR1, then works in 200 ms units, each leaking <mb> MiB
// (default 8: 40 MiB/s), on an exact schedule: unit k ends k × 200 ms after the signal. On a
// graceful stop it finishes the unit in progress.
import { onStop, ready, reportSuccess } from 'shepherd/worker'
const UNIT_MS = 200
const mb = Number(process.argv[2] ?? 8)
const kept = []
let started = null
let units = 0
let current = null
let stopping = false
function next() {
  if (stopping) return
  const due = started + ++units * UNIT_MS
  current = new Promise((r) => setTimeout(r, Math.max(0, due - Date.now()))).then(() => {
    kept.push(Buffer.alloc(mb * 1024 * 1024, 1))
    reportSuccess()
    current = null
    next()
  })
}
process.on('SIGUSR1', () => {
  if (started !== null) return
  started = Date.now()
  next()
})
ready()
setInterval(() => {}, 1 << 30)
onStop(async () => {
  stopping = true
  await current
})
