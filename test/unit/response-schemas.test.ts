/**
 * The API's response schemas (src/adapters/http/responses.ts) against the code's own types: each schema's
 * type and the hand-written one have the same keys and types, both ways. A drift is a compile
 * error (`npx tsc --noEmit`); the tests below also parse real values through the schemas.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import type { z } from 'zod'

import type { ApiErrorBody } from '../../src/adapters/http/errors.js'
import {
  AddResultSchema,
  ErrorBodySchema,
  ExitReportSchema,
  FleetHistorySchema,
  HealthReportSchema,
  IncidentSchema,
  IndicatorSchema,
  JobSchema,
  NodeViewSchema,
  NodeWorkerSchema,
  PoolViewSchema,
  QueueCountsSchema,
  StoreHealthSchema,
  SupervisorInfoSchema,
  WorkerViewSchema,
} from '../../src/adapters/http/responses.js'
import type { ExitReport } from '../../src/core/exit-report.js'
import type { NodeView, NodeWorker } from '../../src/core/fleet-node.js'
import type { HealthReport, Indicator } from '../../src/core/health.js'
import type { Incident } from '../../src/core/incident.js'
import type { Job } from '../../src/core/job.js'
import type { StoreHealthView } from '../../src/core/store-health.js'
import type { AddResult, QueueCounts } from '../../src/ports/job-store.js'
import type { FleetHistory, PoolView, SupervisorInfo, WorkerView } from '../../src/supervisor/view.js'
import { FAKE_INFO, incidentRecord, workerView } from '../helpers/fakes.js'

/** true when A and B are assignable to each other; a drift makes the `true` below a type error. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Agrees<S extends z.ZodType, T> = Same<z.infer<S>, T>

export const agree: {
  [
    K in
      | 'SupervisorInfo'
      | 'Indicator'
      | 'HealthReport'
      | 'WorkerView'
      | 'PoolView'
      | 'FleetHistory'
      | 'ExitReport'
      | 'Incident'
      | 'Job'
      | 'QueueCounts'
      | 'AddResult'
      | 'ErrorBody'
      | 'StoreHealth'
      | 'NodeWorker'
      | 'NodeView'
  ]: true
} = {
  SupervisorInfo: true satisfies Agrees<typeof SupervisorInfoSchema, SupervisorInfo>,
  Indicator: true satisfies Agrees<typeof IndicatorSchema, Indicator>,
  HealthReport: true satisfies Agrees<typeof HealthReportSchema, HealthReport>,
  WorkerView: true satisfies Agrees<typeof WorkerViewSchema, WorkerView>,
  PoolView: true satisfies Agrees<typeof PoolViewSchema, PoolView>,
  FleetHistory: true satisfies Agrees<typeof FleetHistorySchema, FleetHistory>,
  ExitReport: true satisfies Agrees<typeof ExitReportSchema, ExitReport>,
  Incident: true satisfies Agrees<typeof IncidentSchema, Incident>,
  Job: true satisfies Agrees<typeof JobSchema, Job>,
  QueueCounts: true satisfies Agrees<typeof QueueCountsSchema, QueueCounts>,
  AddResult: true satisfies Agrees<typeof AddResultSchema, AddResult>,
  ErrorBody: true satisfies Agrees<typeof ErrorBodySchema, ApiErrorBody>,
  StoreHealth: true satisfies Agrees<typeof StoreHealthSchema, StoreHealthView>,
  NodeWorker: true satisfies Agrees<typeof NodeWorkerSchema, NodeWorker>,
  NodeView: true satisfies Agrees<typeof NodeViewSchema, NodeView>,
}

describe('response schemas', () => {
  it('agree with the code’s types (checked by tsc; listed here so that none is forgotten)', () => {
    assert.equal(Object.values(agree).length, 15)
  })

  it('take the values the code makes', () => {
    assert.deepEqual(SupervisorInfoSchema.parse(FAKE_INFO), FAKE_INFO)
    const w = workerView('email#1')
    assert.deepEqual(WorkerViewSchema.parse(w), w)
    const i = incidentRecord('inc-1', 'email#1', 1000)
    assert.deepEqual(IncidentSchema.parse(i), i)
  })
})
