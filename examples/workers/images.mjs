// Demo worker (uses the SDK): resizes "images" and leaks memory as it goes. Seeing its memory
// climb steadily toward the pool's limit, Shepherd restarts it gracefully before it gets there
// (cause memory-trend): the image in progress is finished first.
import { onStop, ready, reportSuccess, workerId } from 'shepherd/worker'

const leak = []
let current = null
ready()
console.log(`${workerId} ready; leaking about 2.5 MiB a second`)
const timer = setInterval(() => {
  if (current) return
  current = new Promise((r) => setTimeout(r, 400)).then(() => {
    leak.push(Buffer.alloc(1024 * 1024, 1))
    reportSuccess()
    current = null
  })
}, 100)
onStop(async () => {
  clearInterval(timer)
  await current
  console.log(`${workerId} finished the image in progress (${leak.length} MiB leaked) and stops`)
})
