// Demo worker (uses the SDK): builds "reports" and, now and then, gets stuck in a busy loop that
// freezes its event loop. Heartbeats stop; Shepherd sees a hang and hard-restarts it.
import { onStop, ready, reportSuccess, workerId } from 'shepherd/worker'

const hangAfterMs = 30_000 + Math.random() * 40_000
const started = Date.now()
ready()
console.log(`${workerId} ready; will freeze in about ${Math.round(hangAfterMs / 1000)} s`)
const timer = setInterval(() => {
  if (Date.now() - started > hangAfterMs) {
    console.error(`${workerId} entered an infinite loop (simulated)`)
    for (;;) {
      // Nothing gets out of here: not timers, not heartbeats, not SIGTERM handlers.
    }
  }
  reportSuccess()
}, 500)
onStop(() => clearInterval(timer))
