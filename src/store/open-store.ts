/**
 * The one place that decides which Store adapter backs Shepherd; the composition root calls it.
 * @module
 */
import { openSqliteStore } from '../adapters/sqlite/sqlite-store.js'
import type { Store } from '../ports/store.js'

/**
 * Opens the store and brings its schema up to date. Today that is always the embedded SQLite file;
 * a PostgreSQL adapter for many hosts will be chosen here, behind the same port.
 * @param file - the SQLite file, `store.path` resolved against the config file's directory
 *   (`LoadedConfig.storePath`).
 * @throws ShepherdError `SHEPHERD_STORE_OPEN_FAILED` or `SHEPHERD_STORE_MIGRATION_FAILED`; see
 *   docs/store.md.
 */
export async function openStore(file: string): Promise<Store> {
  return openSqliteStore(file)
}
