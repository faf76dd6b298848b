import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCsvUrls } from '../src/data/sources/csv-urls.js';
import { isLoupeError } from '../src/errors/loupe-error.js';

const HEADER =
  'id,observed_on,user_login,quality_grade,license,url,image_url,sound_url,species_guess,scientific_name,common_name,iconic_taxon_name,taxon_id,latitude,longitude';
const row = (id: number, grade: string, license: string, image: string, sci: string) =>
  `${id},2024-05-0${(id % 9) + 1},user${id % 3},${grade},${license},https://www.inaturalist.org/observations/${id},${image},,"guess, maybe",${sci},Common ${sci},Aves,${id},52.1,4.3`;

let dir: string;
let file: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-csv-'));
  file = path.join(dir, 'observations.csv');
  const lines = [
    HEADER,
    row(1, 'research', 'CC-BY', 'https://img.test/1.jpg', 'Parus major'),
    row(2, 'research', 'CC0', 'https://img.test/2.jpg', 'Parus major'),
    row(3, 'needs_id', 'CC-BY-NC', 'https://img.test/3.jpg', 'Parus major'),
    row(4, 'research', 'CC-BY', '', 'Parus major'),
    row(5, 'research', 'CC-BY', 'https://img.test/5.jpg', 'Erithacus rubecula'),
    row(6, 'research', 'CC-BY', 'https://img.test/6.jpg', 'Erithacus rubecula'),
    row(7, 'casual', 'CC-BY', 'https://img.test/7.jpg', 'Turdus merula'),
    row(8, 'research', 'CC-BY', 'https://img.test/8.jpg', ''),
  ];
  await writeFile(file, `\ufeff${lines.join('\r\n')}\r\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

describe('CSV of image URLs (iNaturalist export)', () => {
  it('reads an export with its defaults, reporting rows that cannot be items', async () => {
    const r = await readCsvUrls(file);
    assert.deepEqual(r.columns, { image: 'image_url', label: 'scientific_name', group: 'id' });
    assert.equal(r.rows.length, 6);
    assert.deepEqual(r.rows[0], {
      url: 'https://img.test/1.jpg',
      label: 'Parus major',
      group: '1',
      line: 2,
      meta: {
        id: '1',
        observed_on: '2024-05-02',
        user_login: 'user1',
        quality_grade: 'research',
        license: 'CC-BY',
        url: 'https://www.inaturalist.org/observations/1',
        common_name: 'Common Parus major',
        iconic_taxon_name: 'Aves',
        taxon_id: '1',
        latitude: '52.1',
        longitude: '4.3',
      },
    });
    assert.deepEqual(
      r.skipped.map((s) => [s.line, s.reason]),
      [
        [5, 'no image URL'],
        [9, 'no label'],
      ],
    );
  });

  it('filters by quality grade, licence, class size and top-K classes', async () => {
    const r = await readCsvUrls(file, {
      qualityGrades: ['research'],
      licenses: ['cc-by', 'cc0'],
      minPerClass: 2,
    });
    assert.deepEqual(
      r.rows.map((x) => x.group),
      ['1', '2', '5', '6'],
    );
    const reasons = r.skipped.map((s) => s.reason).sort();
    assert.deepEqual(reasons, ['no image URL', 'no label', 'quality grade', 'quality grade']);
    const top = await readCsvUrls(file, { topK: 1 });
    assert.deepEqual([...new Set(top.rows.map((x) => x.label))], ['Parus major']);
    assert.equal(top.skipped.filter((s) => s.reason === 'not in top K classes').length, 3);
  });

  it('takes any CSV through column options, and groups by user', async () => {
    const r = await readCsvUrls(file, { labelColumn: 'iconic_taxon_name', groupColumn: 'user_login' });
    assert.equal(new Set(r.rows.map((x) => x.label)).size, 1);
    assert.deepEqual([...new Set(r.rows.map((x) => x.group))].sort(), ['user0', 'user1', 'user2']);
  });

  it('names missing columns and lists the ones there are', async () => {
    await assert.rejects(
      () => readCsvUrls(file, { labelColumn: 'species' }),
      (e) =>
        isLoupeError(e, 'INVALID_ARGUMENT') &&
        /no label column "species"; its columns are: id, observed_on/.test(e.message),
    );
    const plain = path.join(dir, 'plain.csv');
    await writeFile(plain, 'path,klass\na.jpg,cat\n');
    await assert.rejects(
      () => readCsvUrls(plain),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT') && /--image-column/.test(e.message),
    );
  });

  it('reports unreadable, empty and missing files', async () => {
    const broken = path.join(dir, 'broken.csv');
    await writeFile(broken, 'image_url,label\n"https://x/1.jpg,cat\n');
    await assert.rejects(
      () => readCsvUrls(broken),
      (e) => isLoupeError(e, 'CORRUPT_FILE'),
    );
    const empty = path.join(dir, 'empty.csv');
    await writeFile(empty, 'image_url,label\n');
    await assert.rejects(
      () => readCsvUrls(empty),
      (e) => isLoupeError(e, 'CORRUPT_FILE') && /no rows/.test(e.message),
    );
    await assert.rejects(
      () => readCsvUrls(path.join(dir, 'nope.csv')),
      (e) => isLoupeError(e, 'NOT_FOUND'),
    );
  });
});
