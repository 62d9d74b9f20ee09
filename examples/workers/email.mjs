// Demo worker (uses the SDK): sends "emails" and, now and then, crashes outright.
import { onStop, ready, reportFailure, reportSuccess, workerId } from 'shepherd/worker'

const crashAfterMs = 20_000 + Math.random() * 40_000
const started = Date.now()
let sending = null

async function sendOne(n) {
  await new Promise((r) => setTimeout(r, 200 + Math.random() * 300))
  if (Math.random() < 0.02) throw new Error(`SMTP 451 for message ${n}`)
}

ready()
console.log(`${workerId} ready; will crash in about ${Math.round(crashAfterMs / 1000)} s`)
let n = 0
const timer = setInterval(() => {
  if (sending) return
  if (Date.now() - started > crashAfterMs) {
    console.error(`${workerId} segfaults (simulated): exiting with code 139`)
    process.exit(139)
  }
  sending = sendOne(++n)
    .then(reportSuccess, reportFailure)
    .finally(() => (sending = null))
}, 50)

onStop(async () => {
  clearInterval(timer)
  await sending
  console.log(`${workerId} finished its last email and stops`)
})
