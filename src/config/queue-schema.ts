/**
 * The settings of one queue (`queues.<name>`): attempts, retry backoff, timeout, quarantine, how
 * long finished jobs are kept. A section of the one config schema (schema.ts).
 * @module
 */
import { z } from 'zod'

import { duration, LONG_DURATION_LIMIT } from './units.js'

export const QueueSchema = z
  .strictObject({
    max_attempts: z
      .number()
      .int()
      .min(1)
      .prefault(3)
      .describe('Deliveries a job gets before a handler error dead-letters it (an enqueue may set its own).'),
    retry_delay: duration({ max: LONG_DURATION_LIMIT })
      .prefault(1)
      .describe('Delay before the first retry after an error; doubles each time.'),
    max_retry_delay: duration({ max: LONG_DURATION_LIMIT })
      .prefault('5m')
      .describe('Cap on the retry delay.'),
    timeout: duration({ positive: true, max: LONG_DURATION_LIMIT })
      .optional()
      .describe(
        'A delivery running longer fails (and counts as an attempt); its worker is suspect. Default: no limit.',
      ),
    poison_threshold: z
      .number()
      .int()
      .min(1)
      .prefault(3)
      .describe(
        'A job in flight in this many worker crashes or hangs is quarantined, not retried: the commonest restart loop, stopped.',
      ),
    keep_done: duration({ max: LONG_DURATION_LIMIT })
      .prefault('24h')
      .describe(
        'Finished jobs are kept this long (for their result, counts, throughput and idempotency), then deleted. 0: deleted by their ack, the fastest finish (docs/store.md).',
      ),
  })
  .describe('Settings of one queue.')
