// A job worker whose jobs take `payload.ms` (default 60 s): jobs held in flight, for failover runs.
import { work } from 'shepherd/worker'

work((job) => new Promise((resolve) => setTimeout(resolve, job.payload?.ms ?? 60_000)))
