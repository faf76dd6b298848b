import { z } from 'zod';

/** `web.organiser` in loupe.yaml: where the photo organiser keeps its class folders, and which model sorts. */
export const organiserConfigSchema = z.strictObject({
  /** The folder holding one folder per class; relative paths are from the workspace root. */
  dir: z.string().min(1).default('organised'),
  /**
   * The model uploads are classified with: `name` (its champion, else its latest version),
   * `name:alias` or `name@3`. Default: the workspace's only registered model.
   */
  model: z.string().min(1).optional(),
});

export type OrganiserConfig = z.output<typeof organiserConfigSchema>;
