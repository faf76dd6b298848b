import { z } from 'zod';

/** `web.jobs` in loupe.yaml: what jobs started from the web app may touch. */
export const jobsConfigSchema = z.strictObject({
  /**
   * The folders an ingest job may read (with everything under them); relative entries are from
   * the workspace root. Default: the workspace itself. An empty list turns ingest from the web off.
   */
  ingestRoots: z.array(z.string().min(1)).default(['.']),
});

export type JobsConfig = z.output<typeof jobsConfigSchema>;
