/**
 * The JobStore contract on PostgreSQL, each case in a schema of its own (test/helpers/postgres.ts).
 * Skipped, saying why, where no server answers at 127.0.0.1:5432; never under CI=true.
 */
import { it } from 'node:test'

import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { dropSchema, postgresSkipReason, testSchema } from '../helpers/postgres.js'
import { jobStoreContract } from './job-store.contract.js'

const skip = await postgresSkipReason()

if (skip !== null) {
  it('JobStore contract: postgres', { skip }, () => {})
} else {
  jobStoreContract('postgres', async () => {
    const { schema, url } = testSchema()
    const opened: PostgresStore[] = [await openPostgresStore(url)]
    return {
      jobs: opened[0]!.jobs,
      reopen: async () => {
        await opened[0]!.close()
        const store = await openPostgresStore(url)
        opened.push(store)
        return store.jobs
      },
      cleanup: async () => {
        for (const s of opened) await s.close()
        await dropSchema(schema)
      },
    }
  })
}
