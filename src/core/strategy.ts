/**
 * The recovery strategies of the plan.
 * - soft_restart: SIGTERM, let the current work finish up to the stop timeout, then start again.
 * - hard_restart: SIGKILL the whole process group at once, then start again.
 * - scale_recovery: start the replacement first and retire the sick worker once the replacement
 *   is ready, so the pool never drops below its size.
 * @module
 */
export const STRATEGIES = ['soft_restart', 'hard_restart', 'scale_recovery'] as const
export type Strategy = (typeof STRATEGIES)[number]
