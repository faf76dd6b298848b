import { z } from 'zod';

/**
 * `monitor.retrain` in loupe.yaml: when `loupe serve` starts a retrain of a served model by
 * itself. Off unless a trigger is set; a plain timetable ("every night") is a cron job or the
 * scheduled workflow in deploy/ci running `loupe retrain`.
 */
export const retrainScheduleSchema = z.strictObject({
  /** Retrain a model when a drift check newer than the last one acted on found drift. */
  onDrift: z.boolean().default(false),
  /** Retrain a model once this many decisions (accepts and corrections) are pending; 0: never. */
  minFeedback: z.number().int().nonnegative().default(0),
  /** How often the server looks at the triggers. */
  intervalMs: z.number().int().positive().default(60_000),
});

export type RetrainScheduleConfig = z.output<typeof retrainScheduleSchema>;
