/** The loupe.yaml that `loupe init` writes: every setting at its default, explained. */
export function loupeYamlTemplate(name: string): string {
  return `# Loupe workspace. Every setting below is at its default; delete what you do not change.
# Profiles override the base when selected with --profile NAME or LOUPE_PROFILE=NAME, and
# environment variables override both: LOUPE__DATA__SPLIT__SEED=7 sets data.split.seed.
name: ${JSON.stringify(name)}

data:
  split:
    val: 0.1          # fraction of each class for validation (predefined train/val/test folders win)
    test: 0.1         # fraction of each class for the test set
    seed: 42          # the same seed and items give the same split on any machine
    stratify: true    # keep class proportions equal across splits
    groupBy: group    # keep a group (observation, user, recording) on one side; or: none
  folds:
    k: 5              # cross-validation folds over train and val items
    byGroup: false    # true: one fold per group (leave-one-group-out)
  download:
    concurrency: 16   # images downloaded at once
    perHost: 4        # at once from one host
    ratePerHost: 10   # requests per second to one host, at most
    timeoutMs: 30000
    retries: 4        # on network errors, 5xx and 429 (Retry-After is honoured)
    maxBytes: 20971520
  # validation: what ingest checks and what it does about each finding (skip | keep | fail);
  # every check, its default and an example are in docs/datasets.md, section Validation.

profiles:
  local: {}
  ci:
    data:
      download:
        concurrency: 4
  prod: {}
`;
}
