/**
 * The JSON of /api/models…: the server's own types (src/registry/, src/web/models/), imported for
 * type-checking only, so no server code reaches the bundle.
 */

export type { AuditEntry, ModelSummary, ModelVersion } from '../../../../src/registry/registry-store.js';
export type { GateResult } from '../../../../src/registry/gate/run-gate.js';
export type { VersionReport } from '../../../../src/web/models/version-report.js';
export type { CellItem, ConfusionCell } from '../../../../src/web/models/confusion-cell.js';
