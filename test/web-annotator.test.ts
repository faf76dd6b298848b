import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadConfig } from '../src/config/load-config.js';
import { parseAudacityLabels } from '../src/data/sources/audio/audacity-labels.js';
import { scanAudioFolder } from '../src/data/sources/audio/audio-folder.js';
import {
  listFeedback,
  pendingFeedback,
  type FeedbackRecord,
} from '../src/monitor/feedback/feedback-store.js';
import { isLoupeError } from '../src/errors/loupe-error.js';
import { sha256 } from '../src/store/blob-store.js';
import { createUser } from '../src/web/accounts/user-store.js';
import type { Recording, Segment } from '../src/web/annotator/annotation-store.js';
import { webConfigSchema } from '../src/web/web-config.js';
import type { Workspace } from '../src/workspace/workspace.js';
import { AUDIO_SAMPLES, REC04_BURSTS, trainAudioModel } from './helpers/audio-model-fixture.js';
import { trainAndRegister } from './helpers/registry-fixture.js';
import { repoRoot } from './helpers/run-cli.js';
import { expectProblem, json, startServer, waitFor, type RunningServer } from './helpers/serve-fixture.js';
import { trainingWorkspace } from './helpers/training-workspace.js';
import { WebClient } from './helpers/web-e2e.js';

const PASSWORD = 'correct horse battery';
const CLASSES = ['chirp', 'noise', 'tone'];

interface Detail {
  created?: boolean;
  recording: Recording;
  segments: Segment[];
}

/** Uploads a recording as the page does: multipart/form-data with the file in `file`. */
function upload(client: WebClient, file: Buffer, name: string, query = ''): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file)]), name);
  return client.request(`/api/recordings${query}`, { method: 'POST', body: form });
}

/** The live segment whose span holds time t. */
const at = (segments: Segment[], t: number) => segments.find((s) => s.start <= t && t < s.end)!;

describe('audio annotator API', () => {
  let dir: string;
  let ws: Workspace;
  let server: RunningServer;
  let annotator: WebClient;
  let viewer: WebClient;
  let rec04: Buffer;
  let recording: Detail;

  before(async () => {
    // An image model `fm` beside the audio one: asked for by name, it is refused with the reason.
    ({ dir, ws } = await trainingWorkspace({ classes: 2, perClass: 12 }));
    await trainAndRegister(ws, [{ epochs: 1 }]);
    await trainAudioModel(ws);
    for (const role of ['viewer', 'annotator', 'admin'] as const)
      await createUser(ws.db, { email: `${role}@example.org`, password: PASSWORD, role });
    server = await startServer(ws, {});
    annotator = await WebClient.start(server.url, { email: 'annotator@example.org', password: PASSWORD });
    viewer = await WebClient.start(server.url, { email: 'viewer@example.org', password: PASSWORD });
    rec04 = await readFile(path.join(AUDIO_SAMPLES, 'rec-04.wav'));
  });

  after(async () => {
    await server?.close();
    await ws?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pre-labels an upload into segments that tile the recording, with the right class on most bursts', async () => {
    recording = await json<Detail>(await upload(annotator, rec04, 'rec-04.wav'), 201);
    const { recording: r, segments } = recording;
    assert.equal(recording.created, true);
    assert.equal(r.name, 'rec-04.wav');
    assert.equal(r.duration, 5);
    assert.equal(r.sampleRate, 16000);
    assert.equal(r.modelRef, 'bursts@1');
    assert.deepEqual(r.classes, CLASSES);
    assert.equal(r.window, 0.5);
    assert.equal(r.hop, 0.125);
    assert.equal(r.uploadedBy, 'annotator@example.org');
    assert.equal(segments[0]!.start, 0);
    assert.equal(segments.at(-1)!.end, 5);
    for (let i = 1; i < segments.length; i++) assert.equal(segments[i]!.start, segments[i - 1]!.end);
    for (const s of segments) {
      assert.equal(s.status, 'pending');
      assert.equal(s.label, s.prediction!.label);
      assert.deepEqual([s.prediction!.start, s.prediction!.end], [s.start, s.end]);
      assert.equal(s.prediction!.model, 'bursts@1');
      assert.equal(s.prediction!.top[0]!.label, s.label);
      assert.ok(s.prediction!.probability > 0 && s.prediction!.probability <= 1);
    }
    const right = REC04_BURSTS.filter(
      ([start, end, label]) => at(segments, (start + end) / 2).label === label,
    );
    assert.ok(right.length >= 7, `${right.length} of 9 bursts labelled right`);
    assert.deepEqual(r.counts, { pending: segments.length, accepted: 0, corrected: 0 });

    const again = await json<Detail>(await upload(annotator, rec04, 'copy.wav'), 200);
    assert.equal(again.created, false);
    assert.equal(again.recording.id, r.id, 'the same bytes open the recording already there');
    const list = await json<{ recordings: Recording[] }>(await viewer.request('/api/recordings'));
    assert.deepEqual(
      list.recordings.map((x) => x.id),
      [r.id],
    );
  });

  it('resamples and mixes down other formats: 44.1 kHz stereo of a labelled recording', async () => {
    const converted = path.join(dir, 'rec-01-44k.wav');
    execFileSync('sox', [path.join(AUDIO_SAMPLES, 'rec-01.wav'), '-r', '44100', '-c', '2', converted]);
    const { recording: r, segments } = await json<Detail>(
      await upload(annotator, await readFile(converted), 'rec-01-44k.wav', '?model=bursts&hop=0.1'),
      201,
    );
    assert.equal(r.sampleRate, 44100);
    assert.equal(r.channels, 2);
    assert.equal(r.hop, 0.1);
    const { labels } = parseAudacityLabels(await readFile(path.join(AUDIO_SAMPLES, 'rec-01.txt'), 'utf8'));
    const right = labels.filter((l) => at(segments, (l.start + l.end) / 2).label === l.label);
    assert.ok(right.length >= labels.length * 0.75, `${right.length} of ${labels.length} labels right`);
  });

  it('serves the audio with byte ranges, and the log-mel spectrogram as a PNG', async () => {
    const id = recording.recording.id;
    const whole = await viewer.request(`/api/recordings/${id}/audio`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-type'), 'audio/wav');
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), rec04);
    const part = await viewer.request(`/api/recordings/${id}/audio`, {
      headers: { range: 'bytes=1000-1999' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${rec04.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), rec04.subarray(1000, 2000));
    const beyond = await viewer.request(`/api/recordings/${id}/audio`, {
      headers: { range: `bytes=${rec04.length + 10}-` },
    });
    assert.equal(beyond.headers.get('content-range'), `bytes */${rec04.length}`);
    await expectProblem(beyond, 416, new RegExp(`outside the file \\(${rec04.length} bytes\\)`));

    const png = await viewer.request(`/api/recordings/${id}/spectrogram.png`);
    assert.equal(png.status, 200);
    assert.equal(png.headers.get('content-type'), 'image/png');
    const image = sharp(Buffer.from(await png.arrayBuffer()));
    const meta = await image.metadata();
    // 64 mel bands; 100 frames a second (hop 160 at 16 kHz) plus one.
    assert.deepEqual([meta.width, meta.height], [501, 64]);
    // The 1 kHz tone at 0.765–1.045 s is brighter than the quiet before it in its band.
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    const brightness = (x: number) => {
      let best = 0;
      for (let y = 0; y < info.height; y++) {
        const o = (y * info.width + x) * info.channels;
        best = Math.max(best, data[o]! + data[o + 1]! + data[o + 2]!);
      }
      return best;
    };
    assert.ok(brightness(90) > brightness(65) + 100, `${brightness(90)} vs ${brightness(65)}`);

    await expectProblem(await viewer.request('/api/recordings/999/audio'), 404, /no recording 999/);
  });

  /** The feedback rows about the recording, oldest first. */
  const feedbackOf = async (blob: string): Promise<FeedbackRecord[]> =>
    (await listFeedback(ws.db, { inputHash: blob, limit: 1000 })).reverse();

  it('records a class change with its provenance, and keeps the original prediction', async () => {
    const { recording: r, segments } = recording;
    const target = at(segments, 0.9);
    const other = CLASSES.find((c) => c !== target.label)!;
    const after = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${target.id}`, {
        method: 'PATCH',
        json: { label: other, revision: target.revision },
      }),
    );
    const edited = after.segments.find((s) => s.id === target.id)!;
    assert.equal(edited.label, other);
    assert.equal(edited.status, 'corrected');
    assert.deepEqual(edited.prediction, target.prediction, 'the original prediction is kept');
    assert.equal(edited.editedBy, 'annotator@example.org');
    assert.ok(edited.revision > target.revision);
    const [row] = await feedbackOf(r.blob);
    assert.ok(row);
    assert.deepEqual(
      {
        actor: row.actor,
        channel: row.channel,
        action: row.action,
        media: row.media,
        model: row.model,
        version: row.version,
        blob: row.inputBlob,
        segment: row.segment,
        predicted: row.predicted,
        confidence: row.confidence,
        label: row.label,
      },
      {
        actor: 'annotator@example.org',
        channel: 'annotator',
        action: 'correct',
        media: 'audio',
        model: 'bursts',
        version: 1,
        blob: r.blob,
        segment: { start: target.start, end: target.end },
        predicted: target.prediction!.label,
        confidence: target.prediction!.probability,
        label: other,
      },
    );
    assert.deepEqual(
      edited.history.map((h) => [h.action, h.actor, h.label]),
      [['correct', 'annotator@example.org', other]],
    );
    // A stale revision is refused rather than silently overwriting the change.
    await expectProblem(
      await annotator.request(`/api/recordings/${r.id}/segments/${target.id}`, {
        method: 'PATCH',
        json: { label: target.label, revision: target.revision },
      }),
      409,
      /changed since you loaded it/,
    );
    recording = after;
  });

  it('moves boundaries: the decision moves with them, an undecided segment only logs the move', async () => {
    const r = recording.recording;
    const decided = at(recording.segments, 0.9);
    const moved = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${decided.id}`, {
        method: 'PATCH',
        json: { start: 0.75, end: 1.05 },
      }),
    );
    const now = moved.segments.find((s) => s.id === decided.id)!;
    assert.deepEqual([now.start, now.end, now.label, now.status], [0.75, 1.05, decided.label, 'corrected']);
    assert.deepEqual(
      [now.prediction!.start, now.prediction!.end],
      [decided.prediction!.start, decided.prediction!.end],
    );
    const pending = (await pendingFeedback(ws.db)).filter((f) => f.inputHash === r.blob);
    assert.deepEqual(
      pending.map((f) => [f.segment, f.label]),
      [[{ start: 0.75, end: 1.05 }, decided.label]],
      'retraining sees the decision at the new bounds only',
    );
    assert.deepEqual(
      now.history.map((h) => [h.action, h.start, h.end]),
      [
        ['correct', decided.start, decided.end],
        ['delete', decided.start, decided.end],
        ['correct', 0.75, 1.05],
      ],
    );

    const undecided = at(moved.segments, 4.1);
    assert.equal(undecided.status, 'pending');
    const shifted = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${undecided.id}`, {
        method: 'PATCH',
        json: { end: undecided.end - 0.01 },
      }),
    );
    const s = shifted.segments.find((x) => x.id === undecided.id)!;
    assert.equal(s.status, 'pending');
    assert.deepEqual(
      s.history.map((h) => [h.action, h.note]),
      [['skip', `moved from ${undecided.start}–${undecided.end} s; class not reviewed yet`]],
    );
    recording = shifted;
  });

  it('refuses bounds outside the recording, inverted or taken, and classes the model lacks', async () => {
    const r = recording.recording;
    const s = at(recording.segments, 2.5);
    const patch = (body: unknown) =>
      annotator.request(`/api/recordings/${r.id}/segments/${s.id}`, { method: 'PATCH', json: body });
    await expectProblem(await patch({ start: -0.1 }), 400, /inside the recording \(0–5 s\)/);
    await expectProblem(await patch({ end: 5.5 }), 400, /inside the recording/);
    await expectProblem(await patch({ start: 2.6, end: 2.6 }), 400, /must end after it starts/);
    await expectProblem(await patch({ start: 2.7, end: 2.6 }), 400, /must end after it starts/);
    await expectProblem(await patch({ start: 'soon' }), 400, /start/);
    await expectProblem(await patch({}), 400, /give label, start or end/);
    await expectProblem(
      await patch({ label: 'whistle' }),
      400,
      /"whistle" is not a class of bursts@1; its classes are chirp, noise, tone/,
    );
    const neighbour = recording.segments[recording.segments.indexOf(s) + 1]!;
    await expectProblem(
      await patch({ start: neighbour.start, end: neighbour.end }),
      409,
      new RegExp(`segment ${neighbour.id} .* already spans`),
    );
    await expectProblem(
      await annotator.request(`/api/recordings/${r.id}/segments/99999`, {
        method: 'PATCH',
        json: { label: 'tone' },
      }),
      404,
      /has no segment 99999/,
    );
    const unchanged = await json<Detail>(await viewer.request(`/api/recordings/${r.id}`));
    assert.deepEqual(unchanged.segments, recording.segments, 'refused edits change nothing');
  });

  it('splits, deletes, adds and accepts, each with feedback', async () => {
    const r = recording.recording;
    const before = (await feedbackOf(r.blob)).length;
    const chirps = at(recording.segments, 3);
    const cut = Math.round(((chirps.start + chirps.end) / 2) * 1000) / 1000;
    await expectProblem(
      await annotator.request(`/api/recordings/${r.id}/segments/${chirps.id}/split`, {
        method: 'POST',
        json: { at: chirps.end },
      }),
      400,
      /strictly inside the segment/,
    );
    let d = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${chirps.id}/split`, {
        method: 'POST',
        json: { at: cut },
      }),
    );
    const [left, right] = [at(d.segments, cut - 0.001), at(d.segments, cut)];
    assert.equal(left.id, chirps.id);
    assert.deepEqual([left.start, left.end, right.start, right.end], [chirps.start, cut, cut, chirps.end]);
    for (const half of [left, right]) {
      assert.equal(half.label, chirps.label);
      assert.deepEqual(half.prediction, chirps.prediction, 'both halves keep the prediction they came from');
    }

    d = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${right.id}`, { method: 'DELETE' }),
    );
    assert.equal(
      d.segments.find((s) => s.id === right.id),
      undefined,
    );

    const added = await annotator.request(`/api/recordings/${r.id}/segments`, {
      method: 'POST',
      json: { start: cut + 0.01, end: chirps.end, label: 'chirp' },
    });
    const withAdded = await json<Detail & { segmentId: number }>(added, 201);
    const mine = withAdded.segments.find((s) => s.id === withAdded.segmentId)!;
    assert.deepEqual(
      [mine.status, mine.prediction, mine.createdBy],
      ['corrected', null, 'annotator@example.org'],
    );
    await expectProblem(
      await annotator.request(`/api/recordings/${r.id}/segments`, {
        method: 'POST',
        json: { start: 4, end: 6, label: 'chirp' },
      }),
      400,
      /inside the recording/,
    );

    const accepted = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${left.id}/accept`, {
        method: 'POST',
        json: {},
      }),
    );
    assert.equal(accepted.segments.find((s) => s.id === left.id)!.status, 'accepted');

    const rows = (await feedbackOf(r.blob)).slice(before);
    assert.deepEqual(
      rows.map((f) => [f.action, f.segment, f.label, f.note]),
      [
        [
          'skip',
          { start: chirps.start, end: cut },
          null,
          `split from ${chirps.start}–${chirps.end} s at ${cut} s; class not reviewed yet`,
        ],
        [
          'skip',
          { start: cut, end: chirps.end },
          null,
          `split from ${chirps.start}–${chirps.end} s at ${cut} s; class not reviewed yet`,
        ],
        ['delete', { start: cut, end: chirps.end }, null, 'deleted'],
        ['correct', { start: cut + 0.01, end: chirps.end }, 'chirp', 'added'],
        ['accept', { start: chirps.start, end: cut }, chirps.label, 'accepted'],
      ],
    );
    assert.equal(rows[3]!.predicted, null, 'an added segment had no prediction');
    assert.ok(rows.every((f) => f.channel === 'annotator' && f.media === 'audio' && f.inputBlob === r.blob));

    const all = await json<Detail & { accepted: number }>(
      await annotator.request(`/api/recordings/${r.id}/accept-all`, { method: 'POST', json: {} }),
    );
    const wasPending = accepted.segments.filter((s) => s.status === 'pending').length;
    assert.equal(all.accepted, wasPending);
    assert.ok(all.segments.every((s) => s.status !== 'pending'));
    assert.deepEqual(all.recording.counts.pending, 0);
    // Every live segment is now a decision retraining can take, and nothing else is.
    const pending = (await pendingFeedback(ws.db)).filter((f) => f.inputHash === r.blob);
    assert.deepEqual(
      pending
        .map((f) => [f.segment!.start, f.segment!.end, f.label])
        .sort((a, b) => Number(a[0]) - Number(b[0])),
      all.segments.map((s) => [s.start, s.end, s.label]),
    );

    // Splitting a decided segment moves its decision onto both halves.
    const decided = at(all.segments, 4.5);
    const mid = Math.round(((decided.start + decided.end) / 2) * 1000) / 1000;
    const split = await json<Detail>(
      await annotator.request(`/api/recordings/${r.id}/segments/${decided.id}/split`, {
        method: 'POST',
        json: { at: mid, revision: decided.revision },
      }),
    );
    const halves = [at(split.segments, mid - 0.001), at(split.segments, mid)];
    assert.deepEqual(
      halves.map((h) => [h.start, h.end, h.label, h.status]),
      [
        [decided.start, mid, decided.label, decided.status],
        [mid, decided.end, decided.label, decided.status],
      ],
    );
    const decisions = (await pendingFeedback(ws.db)).filter((f) => f.inputHash === r.blob);
    assert.deepEqual(
      decisions
        .filter((f) => f.segment!.start >= decided.start && f.segment!.end <= decided.end)
        .map((f) => f.segment),
      [
        { start: decided.start, end: mid },
        { start: mid, end: decided.end },
      ],
      'the decision on the whole is withdrawn, each half has one',
    );
    recording = split;
  });

  it('exports labels that `loupe ingest audio` reads back, and JSON with provenance', async () => {
    const r = recording.recording;
    const res = await viewer.request(`/api/recordings/${r.id}/export`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /filename="rec-04\.labels\.txt"/);
    const text = await res.text();
    const parsed = parseAudacityLabels(text);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(
      parsed.labels.map((l) => [l.start, l.end, l.label]),
      recording.segments.map((s) => [s.start, s.end, s.label]),
    );
    // Beside the recording, the folder ingests with exactly these segments.
    const folder = path.join(dir, 'reviewed');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, 'rec-04.wav'), rec04);
    await writeFile(path.join(folder, 'rec-04.labels.txt'), text);
    const scan = await scanAudioFolder(folder);
    assert.deepEqual(
      scan.segments.map((s) => [s.labelStart, s.labelEnd, s.label]),
      recording.segments.map((s) => [s.start, s.end, s.label]),
    );

    const doc = await json<{ recording: { blob: string; model: string }; segments: Segment[] }>(
      await viewer.request(`/api/recordings/${r.id}/export?format=json`),
    );
    assert.equal(doc.recording.blob, r.blob);
    assert.equal(doc.segments.length, recording.segments.length);
    assert.ok(doc.segments.some((s) => s.prediction === null && s.createdBy === 'annotator@example.org'));
    await expectProblem(await viewer.request(`/api/recordings/${r.id}/export?format=mp3`), 400, /format/);
  });

  it('refuses what is not a WAV recording, with the reason, and keeps nothing of it', async () => {
    const count = async () => (await ws.db.selectFrom('recordings').select('id').execute()).length;
    const before = await count();
    const png = await readFile(path.join(repoRoot, 'samples/fashion-mnist/test/Bag/0018.png'));
    await expectProblem(
      await upload(annotator, png, 'bag.wav'),
      415,
      /bag\.wav is a PNG image, not a WAV recording/,
    );
    await expectProblem(
      await upload(annotator, Buffer.from('start end label\n0 1 tone\n'), 'notes.txt'),
      415,
      /notes\.txt is text, not a WAV recording/,
    );
    await expectProblem(
      await upload(annotator, Buffer.concat([Buffer.from('ID3\x04\x00\x00'), Buffer.alloc(400)]), 'song.mp3'),
      415,
      /MP3 audio, not a WAV recording.*ffmpeg/,
    );
    await expectProblem(
      await upload(annotator, Buffer.from([0x00, 0x01, 0xfe, 0x80, 0x13, 0x37, 0xc0, 0xde]), 'x.wav'),
      415,
      /x\.wav is data of no known format, not a WAV recording/,
    );
    await expectProblem(await upload(annotator, Buffer.alloc(0), 'empty.wav'), 400, /empty\.wav is empty/);
    const noFile = new FormData();
    noFile.append('note', 'field recording 7');
    await expectProblem(
      await annotator.request('/api/recordings', { method: 'POST', body: noFile }),
      400,
      /has no file/,
    );
    await expectProblem(
      await upload(annotator, rec04.subarray(0, 20_000), 'cut.wav'),
      422,
      /cut\.wav: .*data chunk/,
    );
    await expectProblem(
      await upload(annotator, Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), 'broken.wav'),
      422,
      /broken\.wav: /,
    );
    // A header that reads, samples that do not: the worker's decoder finds them.
    const float = path.join(dir, 'nan.wav');
    execFileSync('sox', [
      '-n',
      '-r',
      '16000',
      '-e',
      'floating-point',
      '-b',
      '32',
      float,
      'synth',
      '1',
      'sine',
      '440',
    ]);
    const nan = await readFile(float);
    nan.writeFloatLE(Number.NaN, nan.length - 4);
    await expectProblem(await upload(annotator, nan, 'nan.wav'), 422, /not a finite number/);
    assert.equal(await ws.blobs.has(sha256(nan)), false, 'the refused upload left no blob');

    const long = path.join(dir, 'long.wav');
    execFileSync('sox', ['-n', '-r', '8000', '-b', '8', '-c', '1', long, 'synth', '601', 'sine', '440']);
    await expectProblem(
      await upload(annotator, await readFile(long), 'long.wav'),
      413,
      /lasts 601 s; .* at most 600 s/,
    );
    const huge = Buffer.alloc(64 * 1024 * 1024 + 1);
    rec04.copy(huge);
    await expectProblem(await upload(annotator, huge, 'huge.wav'), 413, /larger than the 64 MiB/);

    const plain = await annotator.request('/api/recordings', { method: 'POST', json: { file: 'rec.wav' } });
    await expectProblem(plain, 415, /multipart\/form-data/);
    await expectProblem(await upload(annotator, rec04.subarray(0, 44), 'head.wav'), 422, /head\.wav/);
    assert.equal(await count(), before, 'no recording was stored');
  });

  it('takes its upload limits from web.annotator: a small one refuses what the default takes', async () => {
    const count = async () => (await ws.db.selectFrom('recordings').select('id').execute()).length;
    // The default limits take rec-04 (5 s, 160,044 bytes).
    const taken = await upload(annotator, rec04, 'rec-04.wav');
    assert.ok([200, 201].includes(taken.status), await taken.text());
    const defaults = await json<{ limits: unknown }>(await viewer.request('/api/recordings/models'));
    assert.deepEqual(defaults.limits, { maxBytes: 64 * 1024 * 1024, maxSeconds: 600 });
    const before = await count();
    for (const [limits, detail] of [
      [{ maxSeconds: 4 }, /^rec-04\.wav lasts 5 s; the annotator takes recordings of at most 4 s: cut it/],
      [{ maxBytes: 150 * 1024 }, /^the recording is larger than the 0\.15 MiB the annotator takes/],
    ] as const) {
      const limited = await startServer(ws, {}, { web: webConfigSchema.parse({ annotator: limits }) });
      try {
        const client = await WebClient.start(limited.url, {
          email: 'annotator@example.org',
          password: PASSWORD,
        });
        const problem = await expectProblem(await upload(client, rec04, 'rec-04.wav'), 413, detail);
        assert.equal(problem.code, 'TOO_LARGE');
        const { limits: said } = await json<{ limits: { maxBytes: number; maxSeconds: number } }>(
          await client.request('/api/recordings/models'),
        );
        assert.deepEqual(said, { maxBytes: 64 * 1024 * 1024, maxSeconds: 600, ...limits });
      } finally {
        await limited.close();
      }
    }
    assert.equal(await count(), before, 'nothing was stored');
  });

  it('refuses web.annotator limits that are not positive or too large', async () => {
    const yaml = path.join(dir, 'annotator-limits.yaml');
    const load = async (annotatorYaml: string) => {
      await writeFile(yaml, `web:\n  annotator: ${annotatorYaml}\n`);
      return loadConfig(yaml, { env: {} });
    };
    assert.deepEqual((await load('{ maxSeconds: 30 }')).config.web.annotator, {
      maxBytes: 64 * 1024 * 1024,
      maxSeconds: 30,
    });
    for (const [value, message] of [
      ['{ maxBytes: 0 }', /web\.annotator\.maxBytes: .*(>0|greater than 0)/i],
      ['{ maxBytes: 1.5 }', /web\.annotator\.maxBytes: a whole number of bytes/],
      ['{ maxBytes: 2147483648 }', /web\.annotator\.maxBytes: at most 1073741824 \(1 GiB\)/],
      ['{ maxSeconds: -1 }', /web\.annotator\.maxSeconds: .*(>0|greater than 0)/i],
      ['{ maxSeconds: 7200 }', /web\.annotator\.maxSeconds: at most 3600 \(an hour\)/],
      ['{ maxSeconds: ten }', /web\.annotator\.maxSeconds: .*number/i],
      ['{ maxMinutes: 10 }', /web\.annotator: .*maxMinutes/],
    ] as const)
      await assert.rejects(load(value), (e: Error) => {
        assert.ok(isLoupeError(e, 'INVALID_CONFIG'), String(e));
        assert.match(e.message, message);
        return true;
      });
  });

  it('stops pre-labelling, and keeps nothing, when the uploader goes away', async () => {
    // Nine minutes of noise: seconds of pre-labelling, long enough to leave in the middle of.
    const file = path.join(dir, 'long-noise.wav');
    execFileSync('sox', ['-n', '-r', '16000', '-b', '16', '-c', '1', file, 'synth', '540', 'pinknoise']);
    const bytes = await readFile(file);
    const hash = sha256(bytes);
    const boundary = 'loupe-test-boundary';
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="long-noise.wav"\r\n` +
          'content-type: audio/wav\r\n\r\n',
      ),
      bytes,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const request = httpRequest(`${server.url}/api/recordings`, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': body.length,
        'x-csrf-token': annotator.csrf,
        cookie: [...annotator.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    });
    request.on('error', () => undefined);
    request.end(body);
    // The server has the recording and is pre-labelling it…
    await waitFor('the upload to be stored', () => ws.blobs.has(hash), { timeoutMs: 30_000, everyMs: 20 });
    request.destroy();
    // …and, the client gone, stops and removes what it stored instead of finishing.
    await waitFor('the stored upload to be removed', async () => !(await ws.blobs.has(hash)), {
      timeoutMs: 30_000,
    });
    assert.equal(
      await ws.db.selectFrom('recordings').select('id').where('blob', '=', hash).executeTakeFirst(),
      undefined,
    );
  });

  it('pre-labels only with audio models, and says why not', async () => {
    const other = Buffer.from(rec04);
    other.writeInt16LE(123, 1000); // different bytes: not the recording already there
    await expectProblem(
      await upload(annotator, other, 'x.wav', '?model=fm'),
      400,
      /fm@1 classifies images; the audio annotator needs a model trained on recordings/,
    );
    await expectProblem(await upload(annotator, other, 'x.wav', '?model=nope'), 404, /nope/);
    await expectProblem(
      await upload(annotator, other, 'x.wav', '?model=bursts&hop=0.75'),
      400,
      /hop of 0\.75 s is longer/,
    );
    const models = await json<{ models: { ref: string }[] }>(await viewer.request('/api/recordings/models'));
    assert.deepEqual(
      models.models.map((m) => m.ref),
      ['bursts@1'],
    );
  });

  it('lets viewers read, annotators edit, and nobody in without a session', async () => {
    const r = recording.recording;
    const s = recording.segments[0]!;
    const anonymous = await WebClient.start(server.url);
    await expectProblem(await anonymous.request('/api/recordings'), 401, /sign in/);
    await expectProblem(await anonymous.request(`/api/recordings/${r.id}/audio`), 401, /sign in/);
    await expectProblem(await upload(anonymous, rec04, 'rec.wav'), 401, /sign in/);
    assert.equal((await viewer.request(`/api/recordings/${r.id}`)).status, 200);
    assert.equal((await viewer.request(`/api/recordings/${r.id}/spectrogram.png`)).status, 200);
    await expectProblem(await upload(viewer, rec04, 'rec.wav'), 403, /annotator role/);
    await expectProblem(
      await viewer.request(`/api/recordings/${r.id}/segments/${s.id}`, {
        method: 'PATCH',
        json: { label: 'tone' },
      }),
      403,
      /annotator role/,
    );
    await expectProblem(
      await viewer.request(`/api/recordings/${r.id}/accept-all`, { method: 'POST', json: {} }),
      403,
      /annotator role/,
    );
    const admin = await WebClient.start(server.url, { email: 'admin@example.org', password: PASSWORD });
    const d = await json<Detail>(
      await admin.request(`/api/recordings/${r.id}/segments/${s.id}`, {
        method: 'PATCH',
        json: { label: 'tone' },
      }),
    );
    assert.equal(d.segments[0]!.editedBy, 'admin@example.org');
  });
});
