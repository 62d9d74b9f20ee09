// Demo producer: enqueues mail jobs through the control API, a burst every minute (so that the
// mailer pool scales out and back in), and a poison job now and then.
const api = process.env.SHEPHERD_API ?? 'http://127.0.0.1:7717'
let n = 0

async function enqueue(jobs) {
  try {
    const res = await fetch(`${api}/api/queues/mail/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobs }),
    })
    if (!res.ok) console.error(`enqueue refused: ${res.status} ${await res.text()}`)
  } catch (e) {
    console.error(`supervisor API not reachable yet: ${e.message}`)
  }
}

function mail() {
  n++
  return { payload: { to: Array.from({ length: 3 + (n % 5) }, (_, i) => `user${n}-${i}@example.com`) } }
}

setInterval(() => enqueue([mail(), mail()]), 1000)
setInterval(() => {
  console.log('a burst of 400 mails')
  enqueue(Array.from({ length: 400 }, mail))
}, 60_000)
setInterval(() => {
  console.log('a poison job')
  enqueue([{ payload: { poison: true }, idempotencyKey: `poison-${Date.now()}` }])
}, 150_000)
