/**
 * Whether PostgreSQL cleans up after the store, told to the person who runs it: read when a
 * supervisor starts on PostgreSQL ({@link PostgresStore.advise}), each piece of advice logged as a
 * warning.
 *
 * Every job writes its row again when it is claimed and when it is done, and a pruned job leaves
 * its row behind; PostgreSQL keeps the old versions, in the table and in each of its indexes, until
 * a VACUUM takes them away. Autovacuum does that on its own, and it is on by default. Where it is
 * off, for the server or for one of the store's tables, the tables and their indexes only grow.
 * Nothing here changes a setting: the server is its administrator's.
 * @module
 */
import { type Queryable, row } from './statements.js'
import { STORE_STATEMENTS } from './store-queries.js'

/** What the advice is made from: the server's settings and the store's tables' own. */
export interface VacuumSettings {
  /** The server's `autovacuum`. */
  autovacuum: boolean
  /** The server's `track_counts`: autovacuum does nothing without it. */
  trackCounts: boolean
  /** The store's tables with `autovacuum_enabled` off (a table's storage parameter), by name. */
  tablesOff: string[]
  /** The schema the store's tables are in. */
  schema: string
}

/** Advice on `settings` for the store named `store` (its URL without the password); none when all is well. */
export function vacuumAdvice(store: string, settings: VacuumSettings): string[] {
  const grow =
    'every claim and ack leaves a dead row version in `jobs` and in its indexes that only a VACUUM takes away, so ' +
    'they grow with every job that goes through'
  const advice: string[] = []
  if (!settings.autovacuum)
    advice.push(
      `PostgreSQL's autovacuum is off on the server of the store ${store}: ${grow}. Turn it on ` +
        "(ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf()), or run VACUUM (ANALYZE) on the store's tables " +
        'on a schedule.',
    )
  else if (!settings.trackCounts)
    advice.push(
      `PostgreSQL's track_counts is off on the server of the store ${store}, so autovacuum never starts: ${grow}. ` +
        'Turn it on (ALTER SYSTEM SET track_counts = on; SELECT pg_reload_conf()).',
    )
  if (settings.tablesOff.length > 0) {
    const tables = settings.tablesOff.map((t) => `\`${t}\``).join(', ')
    const reset = settings.tablesOff
      .map((t) => `ALTER TABLE ${settings.schema}.${t} RESET (autovacuum_enabled);`)
      .join(' ')
    advice.push(
      `Autovacuum is off for ${tables} in the store ${store} (the table's autovacuum_enabled)` +
        `${settings.tablesOff.includes('jobs') ? `: ${grow}` : ''}. Turn it back on: ${reset}`,
    )
  }
  return advice
}

/** Reads {@link VacuumSettings} on `q` (a connection of the store's pool): one row, always. */
export async function readVacuumSettings(q: Queryable): Promise<VacuumSettings> {
  const r = (await row<{ autovacuum: string; track_counts: string; tables_off: string[]; schema: string }>(
    q,
    STORE_STATEMENTS.vacuumSettings,
  ))!
  return {
    autovacuum: r.autovacuum === 'on',
    trackCounts: r.track_counts === 'on',
    tablesOff: r.tables_off,
    schema: r.schema,
  }
}
