/**
 * Writes the bundled sample dataset, samples/fashion-mnist/{train,test}/<class>/<index>.png, from
 * Debian's Fashion-MNIST IDX files. The first N images of each class in file order are taken, so
 * the output is the same on every machine and every run; <index> is the image's position in
 * the original split, which keeps each file traceable to its source.
 *
 *   node --import tsx scripts/make-sample.ts [--train 300] [--test 60] [--source DIR] [--out DIR]
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { readIdxPair } from '../src/data/sources/idx.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR } from '../src/data/datasets/fashion-mnist.js';
import { LoupeError } from '../src/errors/loupe-error.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const LICENSE = (perTrain: number, perTest: number) => `# Fashion-MNIST sample

These images are a small, deterministic subset of **Fashion-MNIST** by Zalando Research
(<https://github.com/zalandoresearch/fashion-mnist>), redistributed under its MIT licence:

> The MIT License (MIT)
>
> Copyright © 2017 Zalando SE, https://tech.zalando.com
>
> Permission is hereby granted, free of charge, to any person obtaining a copy of this software
> and associated documentation files (the "Software"), to deal in the Software without
> restriction, including without limitation the rights to use, copy, modify, merge, publish,
> distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
> Software is furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
> BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
> OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

## How this folder was made

\`scripts/make-sample.ts\` read the IDX files of Debian's Fashion-MNIST package
(\`/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz\`) and wrote,
for each of the ten classes, the first ${perTrain} images of the training split to \`train/<class>/\`
and the first ${perTest} images of the test split to \`test/<class>/\`, in file order. Each file is
an unmodified 28 × 28 8-bit grayscale PNG named after the image's index in its original split
(\`train/Coat/00019.png\` is image 19 of \`train-images-idx3-ubyte\`). Class folder names follow the
dataset's label order 0–9: ${FASHION_MNIST_CLASSES.join(', ')}
("T-shirt/top" and "Ankle boot" are spelled without "/" and spaces so they are valid folder names).

Regenerate with \`node --import tsx scripts/make-sample.ts\`; the output is byte-for-byte the same.
`;

async function writeSplit(
  split: { pixels: Uint8Array; labels: Uint8Array; rows: number; cols: number; count: number },
  perClass: number,
  outDir: string,
): Promise<number> {
  const taken = new Array<number>(FASHION_MNIST_CLASSES.length).fill(0);
  const size = split.rows * split.cols;
  const digits = String(split.count - 1).length;
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < split.count && taken.some((n) => n < perClass); i++) {
    const label = split.labels[i]!;
    const name = FASHION_MNIST_CLASSES[label];
    if (name === undefined)
      throw new LoupeError('CORRUPT_FILE', `label ${label} of image ${i} is not a Fashion-MNIST class`);
    if (taken[label]! >= perClass) continue;
    taken[label]!++;
    const raw = split.pixels.subarray(i * size, (i + 1) * size);
    const file = path.join(outDir, name, `${String(i).padStart(digits, '0')}.png`);
    jobs.push(
      sharp(raw, { raw: { width: split.cols, height: split.rows, channels: 1 } })
        .toColourspace('b-w')
        .png({ compressionLevel: 9 })
        .toBuffer()
        .then((png) => writeFile(file, png)),
    );
  }
  const short = taken.findIndex((n) => n < perClass);
  if (short >= 0)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `only ${taken[short]} images of class ${FASHION_MNIST_CLASSES[short]} exist, ${perClass} asked for`,
    );
  await Promise.all(jobs);
  return jobs.length;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      train: { type: 'string', default: '300' },
      test: { type: 'string', default: '60' },
      source: { type: 'string', default: FASHION_MNIST_DIR },
      out: { type: 'string', default: path.join(repoRoot, 'samples/fashion-mnist') },
    },
  });
  const perTrain = Number(values.train);
  const perTest = Number(values.test);
  if (!Number.isInteger(perTrain) || perTrain < 1 || !Number.isInteger(perTest) || perTest < 1) {
    throw new LoupeError(
      'INVALID_ARGUMENT',
      '--train and --test take a positive whole number of images per class',
    );
  }
  const src = (f: string) => path.join(values.source, f);
  const [train, test] = await Promise.all([
    readIdxPair(src('train-images-idx3-ubyte.gz'), src('train-labels-idx1-ubyte.gz')),
    readIdxPair(src('t10k-images-idx3-ubyte.gz'), src('t10k-labels-idx1-ubyte.gz')),
  ]);
  // Start from empty folders so a smaller run leaves no stale images behind.
  for (const split of ['train', 'test']) {
    await rm(path.join(values.out, split), { recursive: true, force: true });
    for (const name of FASHION_MNIST_CLASSES)
      await mkdir(path.join(values.out, split, name), { recursive: true });
  }
  const written =
    (await writeSplit(train, perTrain, path.join(values.out, 'train'))) +
    (await writeSplit(test, perTest, path.join(values.out, 'test')));
  await writeFile(path.join(values.out, 'LICENSE.md'), LICENSE(perTrain, perTest));
  console.log(`wrote ${written} images to ${path.relative(process.cwd(), values.out) || '.'}`);
}

await main();
