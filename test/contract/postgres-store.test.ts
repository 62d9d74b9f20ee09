/**
 * The Store contract on PostgreSQL, each case in a schema of its own (test/helpers/postgres.ts).
 * Skipped, saying why, where no server answers at 127.0.0.1:5432; never under CI=true.
 */
import { it } from 'node:test'

import { openPostgresStore, type PostgresStore } from '../../src/adapters/postgres/pg-store.js'
import { dropSchema, postgresSkipReason, testSchema } from '../helpers/postgres.js'
import { storeContract } from './store.contract.js'

const skip = await postgresSkipReason()

if (skip !== null) {
  it('Store contract: postgres', { skip }, () => {})
} else {
  storeContract('postgres', async () => {
    const { schema, url } = testSchema()
    const opened: PostgresStore[] = [await openPostgresStore(url)]
    const open = async (): Promise<PostgresStore> => {
      const store = await openPostgresStore(url)
      opened.push(store)
      return store
    }
    return {
      store: opened[0]!,
      reopen: open,
      alongside: open,
      cleanup: async () => {
        for (const s of opened) await s.close()
        await dropSchema(schema)
      },
    }
  })
}
