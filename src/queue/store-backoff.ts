/**
 * When the dispatcher may try the store again after a write of the queue failed (a full disk, a
 * read-only or deleted store): after RETRY_MIN_MS, doubling up to RETRY_MAX_MS. What failed to be
 * written is kept by the dispatcher meanwhile, never dropped.
 * @module
 */
import type { Logger } from '../logger.js'

/**
 * The cap keeps the recovery prompt (within 2 s of space coming back) at the cost of one failed
 * write every 2 s.
 */
const RETRY_MIN_MS = 50
const RETRY_MAX_MS = 2_000

export class StoreBackoff {
  /** Store writes failed in a row (settlements or claims); 0 while the store takes them. */
  private failures = 0
  /** While failing: no store write before this time. */
  private until = 0

  constructor(
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  /** No store write before this time (0 while the store takes writes). */
  get retryAt(): number {
    return this.until
  }

  /** A store write failed: back off. The first failure of a run is logged; the store's own event says the rest. */
  failed(e: unknown, what: string): void {
    this.failures++
    const now = this.now()
    this.until = now + Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(this.failures - 1, 16))
    const fields = { err: e, what, failures: this.failures, retryInMs: this.until - now }
    if (this.failures === 1)
      this.logger.error(fields, 'the store did not take a write of the queue: kept, retrying')
    else this.logger.debug(fields, 'the store did not take a write of the queue: kept, retrying')
  }

  worked(): void {
    if (this.failures === 0) return
    this.logger.info({ failures: this.failures }, 'the store takes the queue’s writes again')
    this.failures = 0
    this.until = 0
  }
}
