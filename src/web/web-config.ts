import { z } from 'zod';
import { annotatorConfigSchema } from './annotator/annotator-config.js';
import { jobsConfigSchema } from './jobs/jobs-config.js';
import { organiserConfigSchema } from './organiser/organiser-config.js';

/**
 * The `web:` section of loupe.yaml: the browser app `loupe serve` hosts next to its REST API —
 * who may create accounts, how long a sign-in lasts, how hard password guessing is throttled,
 * and whether a reverse proxy's forwarded headers are believed. Every key has a default, so an
 * empty section gives a safe app on localhost; each is documented in docs/web-app.md.
 */

export const REGISTRATION_MODES = ['open', 'invite'] as const;
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];

const sessionSchema = z.strictObject({
  /** A sign-in ends this long after it began, however active. */
  maxAgeHours: z
    .number()
    .positive()
    .default(24 * 7),
  /** ...or after this long without a request. */
  idleMinutes: z
    .number()
    .positive()
    .default(12 * 60),
});

const loginSchema = z.strictObject({
  /** Failed sign-ins allowed per account per window before 429. */
  maxFailuresPerAccount: z.number().int().positive().default(10),
  /** Failed sign-ins (and registrations) allowed per client address per window. */
  maxFailuresPerIp: z.number().int().positive().default(50),
  windowMinutes: z.number().positive().default(15),
});

export const webConfigSchema = z.strictObject({
  /**
   * Who may create an account after the first (which is always allowed and becomes admin):
   * `open` — anyone who can reach the server, with `defaultRole`; `invite` — only with an
   * invitation an admin created, with the invitation's role.
   */
  registration: z.enum(REGISTRATION_MODES).default('invite'),
  /** The role of an account created under open registration. */
  defaultRole: z.enum(['viewer', 'annotator']).default('viewer'),
  /** Days an invitation link stays usable. */
  invitationDays: z.number().positive().default(7),
  /**
   * Believe X-Forwarded-For/-Proto: true for any peer, or the addresses/CIDRs of the proxies.
   * Only set it behind a proxy that overwrites those headers; otherwise a client could claim to
   * be anyone (dodging the sign-in throttle) or claim https.
   */
  trustProxy: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
  session: sessionSchema.default(sessionSchema.parse({})),
  login: loginSchema.default(loginSchema.parse({})),
  organiser: organiserConfigSchema.default(organiserConfigSchema.parse({})),
  annotator: annotatorConfigSchema.default(annotatorConfigSchema.parse({})),
  jobs: jobsConfigSchema.default(jobsConfigSchema.parse({})),
});

export type WebConfig = z.output<typeof webConfigSchema>;
