/**
 * The one place that decides which Store adapter backs Shepherd; the composition root, the CLI and
 * the Queue library call it.
 * @module
 */
import { openSqliteStore } from '../adapters/sqlite/sqlite-store.js'
import type { StoreTarget } from '../config/store-schema.js'
import type { Store } from '../ports/store.js'

/**
 * Opens the store the config names and brings its schema up to date: the embedded SQLite file, or
 * a PostgreSQL database shared by many hosts, behind the same port.
 * @param target - `LoadedConfig.store`; a string is a SQLite file.
 * @throws ShepherdError `SHEPHERD_STORE_OPEN_FAILED` or `SHEPHERD_STORE_MIGRATION_FAILED`; see
 *   docs/store.md.
 */
export async function openStore(target: StoreTarget | string): Promise<Store> {
  if (typeof target === 'string') return openSqliteStore(target)
  switch (target.kind) {
    case 'sqlite':
      return openSqliteStore(target.path)
    case 'postgres': {
      // Loaded only by configs that use it: a SQLite store never loads the PostgreSQL driver.
      const { openPostgresStore } = await import('../adapters/postgres/pg-store.js')
      return openPostgresStore(target.url)
    }
    default: {
      const never: never = target
      throw new TypeError(`unknown store ${JSON.stringify(never)}`)
    }
  }
}
