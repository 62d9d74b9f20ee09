// A worker in a queue's pool that never asks for jobs: the backlog stays in the store.
import { ready } from 'shepherd/worker'
ready()
setInterval(() => {}, 1 << 30)
