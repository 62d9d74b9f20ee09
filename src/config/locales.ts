/**
 * The languages Shepherd writes its messages in: `notifications.locale` and
 * `reports.schedule.locale` of the config, the tables of notify/i18n.ts and report/messages.ts.
 * Here, beside the schema, so that the schema and the renderers both import it and neither
 * imports the other.
 * @module
 */

/** The languages messages are written in. */
export const LOCALES = ['en', 'ja'] as const

/** One of {@link LOCALES}. */
export type Locale = (typeof LOCALES)[number]
