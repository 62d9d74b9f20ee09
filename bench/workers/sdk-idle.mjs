// A small SDK worker: says ready and idles. SIGUSR2 freezes its event loop (a busy-loop hang).
import { ready } from 'shepherd/worker'
process.on('SIGUSR2', () => {
  for (;;);
})
ready()
setInterval(() => {}, 1 << 30)
