import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { listImageFolder } from '../../data/sources/image-folder.js';
import { LoupeError } from '../../errors/loupe-error.js';
import { mapConcurrent } from '../../util/map-concurrent.js';

/** An image with the label its folder gives it. */
export interface LabelledImage {
  bytes: Buffer;
  label: string;
}

/** What the server answered for one image. */
export interface Answer {
  image: LabelledImage;
  requestId: string;
  predicted: string;
  model: string;
}

/** Requests in flight at once: a few clients, not a load test. */
const CLIENTS = 8;

/**
 * The data folder's test images, split per class into what the demo's clients send: a third as
 * they are, half shifted (then corrected by people), the rest shifted and kept back to measure
 * the model on shifted images it never trained on.
 */
export async function demoImages(
  dataDir: string,
): Promise<{ plain: LabelledImage[]; shifted: LabelledImage[]; heldOut: LabelledImage[] }> {
  const listing = await listImageFolder(dataDir);
  const test = listing.splits.test;
  if (!test?.paths.length)
    throw new LoupeError(
      'NOT_FOUND',
      `the demo sends the images of ${path.join(dataDir, 'test')}, and it has none`,
    );
  const byClass = new Map<string, string[]>();
  test.paths.forEach((p, i) => {
    const label = listing.classes[test.labels[i]!]!;
    byClass.set(label, [...(byClass.get(label) ?? []), p]);
  });
  const out = {
    plain: [] as LabelledImage[],
    shifted: [] as LabelledImage[],
    heldOut: [] as LabelledImage[],
  };
  for (const [label, files] of byClass) {
    const third = Math.floor(files.length / 3);
    const half = Math.floor(files.length / 2);
    const load = (part: string[], shift: boolean) =>
      Promise.all(part.map(async (f) => ({ label, bytes: await (shift ? inverted : readFile)(f) })));
    out.plain.push(...(await load(files.slice(0, third), false)));
    out.shifted.push(...(await load(files.slice(third, third + half), true)));
    out.heldOut.push(...(await load(files.slice(third + half), true)));
  }
  return out;
}

/** The shift the demo's second camera has: white on black instead of black on white. */
async function inverted(file: string): Promise<Buffer> {
  return sharp(file).negate({ alpha: false }).png().toBuffer();
}

/** Sends each image to the model's predict route, a few at a time; the answers in image order. */
export async function predictAll(url: string, model: string, images: LabelledImage[]): Promise<Answer[]> {
  const answers: Answer[] = new Array(images.length);
  await mapConcurrent(images, CLIENTS, async (image, i) => {
    const res = await fetch(`${url}/v1/models/${model}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(image.bytes),
    });
    const body = (await res.json()) as { model: string; predictions: { label: string }[]; detail?: string };
    if (!res.ok)
      throw new LoupeError('INTERNAL', `the demo's prediction failed: ${body.detail ?? res.status}`);
    answers[i] = {
      image,
      requestId: res.headers.get('x-request-id') ?? '',
      predicted: body.predictions[0]!.label,
      model: body.model,
    };
  });
  return answers;
}

/** The share of answers whose top class is the image's label. */
export const accuracy = (answers: readonly Answer[]): number =>
  answers.filter((a) => a.predicted === a.image.label).length / Math.max(1, answers.length);

/**
 * What a labelling client does: tells the server, through POST /v1/feedback, the right class of
 * each answer (the folder's label), which accepts the right ones and corrects the others.
 */
export async function sendVerdicts(
  url: string,
  answers: readonly Answer[],
): Promise<{ accepts: number; corrections: number }> {
  const counts = { accepts: 0, corrections: 0 };
  await mapConcurrent(answers, CLIENTS, async (a) => {
    const res = await fetch(`${url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: a.requestId, label: a.image.label }),
    });
    const body = (await res.json()) as { action?: 'accept' | 'correct'; detail?: string };
    if (res.status !== 201)
      throw new LoupeError('INTERNAL', `the demo's feedback was refused: ${body.detail ?? res.status}`);
    if (body.action === 'accept') counts.accepts++;
    else counts.corrections++;
  });
  return counts;
}
