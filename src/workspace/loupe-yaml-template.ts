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

train:                # loupe train; every key is in docs/training.md
  mode: auto          # probe (images) | finetune | scratch | audio (audio segments)
  seed: 0             # initial weights, shuffling, augmentation: same seed, same run
  # epochs, batchSize and optimizer.lr default per mode (probe 60/128/3e-3, scratch 20/128/2e-3, ...)
  imbalance: weights  # class weights inverse to frequency; or: sampler (balanced batches), none
  earlyStopping:
    patience: 5       # epochs without a better validation macro-F1 before stopping; 0: never
  augment:
    image:
      flip: false
      translate: 0    # pixels of random shift
      rotation: 0     # degrees
    strength: 1       # multiplies every magnitude (tuning searches it)
  probe:
    backbone: mobilenet_v2   # or a local encoder.onnx, or hf:owner/name
    head:
      hidden: 0       # 0: a linear head; else one hidden layer of this width
      dropout: 0.2
    views: 0          # augmented views embedded (and cached) per training image
  scratch:
    input: auto       # or { size: 28, channels: 1 }
    filters: [32, 64] # one block of 3x3 convolutions per entry
    convsPerBlock: 2
    classifier: [256]
    dropout: 0.3

tune:                 # loupe tune
  trials: 20
  parallel: auto      # trials at once, one process each; auto: one per core
  sampler: tpe        # or: random
  pruner:
    type: asha        # or: none
    minEpochs: 2
  # space: settings under train, by path, with a range or choices; the default searches
  #   optimizer.lr: { low: 0.0003, high: 0.03, log: true }
  #   optimizer.weightDecay: { low: 0.000001, high: 0.01, log: true }
  #   probe.head.hidden: { choices: [0, 256, 1024] }
  #   probe.head.dropout: { low: 0, high: 0.5 }

gate:                 # loupe gate / loupe promote: what a version must show to become champion
  whenNoChampion: pass  # champion rules for the first version: pass (reported as skipped) or fail
  rules:
    - { metric: macro_f1, min: 0.5 }           # any metric of metrics.json: min and/or max
    - { perClass: recall, min: 0.1 }           # every class (or classes: [...]) at least this
    - { metric: ece, max: 0.15 }               # calibration, after temperature scaling
    - { metric: latency_p95_ms, max: 250 }     # batch-1 decode+preprocess+infer on this machine
    - { champion: macro_f1, notWorseBy: 0.01 } # or betterBy: 0.005; add test: mcnemar|bootstrap, alpha: 0.05

serve:                # loupe serve; keys and the prediction log are in docs/serving-admin.md
  host: 127.0.0.1     # 0.0.0.0 listens on every interface: set auth.required first
  port: 8080
  auth:
    required: false   # true: every /v1 route needs an API key (loupe keys create NAME)
    ratePerMinute: 600  # requests per minute a new key gets unless --rate says otherwise
  batching:
    maxBatch: 32      # requests run through the model together
    maxWaitMs: 3      # how long a request waits for others to share its batch
    queueLimit: 512   # requests waiting beyond this are refused with 503
  limits:
    bodyBytes: 20971520     # 20 MiB per request body
    maxPixels: 40000000     # images claiming more pixels are refused before decoding
    decodeTimeoutMs: 5000
    batchItems: 64          # inputs in one batch request
  url:                # inputs given as URLs
    allowPrivate: false     # true: may fetch loopback, link-local and private addresses
    allow: []               # hosts or CIDRs always allowed, e.g. [images.internal, 10.1.0.0/16]
    maxBytes: 20971520
    timeoutMs: 10000
    maxRedirects: 3
  predictionLog:      # what was served, for monitoring, drift and labelling
    sample: 1               # fraction of predictions recorded, 0..1
    storeInputs: false      # true: keep each recorded input in the blob store
    retentionDays: 30       # older rows are deleted
    maxRows: 1000000        # the oldest rows beyond this are deleted
  reload:
    intervalMs: 1000  # how often the registry is checked for moved aliases
  topK: 5             # classes returned per prediction

web:                  # the browser app on loupe serve's port; accounts and roles in docs/web-app.md
  registration: invite  # after the first account (always allowed, admin): open | invite
  defaultRole: viewer   # the role open registration gives: viewer | annotator
  invitationDays: 7     # how long an invitation link stays usable
  trustProxy: false     # true, or the proxies' addresses/CIDRs, behind a reverse proxy (https, client IPs)
  session:
    maxAgeHours: 168    # a sign-in ends after this long, however active
    idleMinutes: 720    # ...or after this long without a request
  login:                # password guessing: 429 with Retry-After beyond these, per window
    maxFailuresPerAccount: 10
    maxFailuresPerIp: 50
    windowMinutes: 15
  organiser:            # the photo organiser (docs/web-app.md#organise)
    dir: organised      # one folder per class, relative to the workspace
    # model: fm         # the model that sorts uploads; default: the only registered model
  annotator:            # the audio annotator's uploads (docs/web-app.md#audio-annotator)
    maxBytes: 67108864  # 64 MiB
    maxSeconds: 600     # 10 minutes
  jobs:                 # jobs started from the Jobs page (docs/web-app.md#jobs)
    ingestRoots: [.]    # the folders ingest jobs may read; relative to the workspace

monitor:              # watching served models; every key is in docs/monitoring.md
  drift:              # loupe drift MODEL, and loupe serve every intervalMs
    window: 200       # the latest predictions of the served version that are compared
    minWindow: 100    # fewer than this: "not enough data", no verdict
    alpha: 0.05       # chance of a false alarm per check, shared by the tests (Holm)
    permutations: 500 # of the MMD test's null distribution
    referenceSize: 1000   # held-out items of the version's dataset the window is compared with
    intervalMs: 600000    # how often loupe serve checks each model; 0: never
    seed: 0
    tests: { mmd: true, classifier: true, novelty: true, predictions: true, confidence: true }
  retrain:            # loupe serve starts \`loupe retrain MODEL\` itself when a trigger fires
    onDrift: false    # when a new drift check found drift
    minFeedback: 0    # when this many decisions (accepts, corrections) are pending; 0: never
    intervalMs: 60000 # how often the triggers are looked at

profiles:
  local: {}
  ci:                 # small and quick: loupe --profile ci train
    data:
      download:
        concurrency: 4
    train:
      epochs: 2
      scratch:
        filters: [8, 16]
        convsPerBlock: 1
        classifier: [32]
  prod: {}
`;
}
