import assert from 'node:assert/strict';
import path from 'node:path';
import { it } from 'node:test';
import { isWithin } from '../src/util/is-within.js';

it('tells a path under a folder from one beside or above it', () => {
  const root = path.resolve('/srv/data');
  assert.equal(isWithin(root, root), true);
  assert.equal(isWithin(root, path.join(root, 'a', 'b.png')), true);
  assert.equal(isWithin(root, path.join(root, '..notes')), true, 'a name starting with two dots');
  assert.equal(isWithin(root, path.resolve('/srv/data2/x')), false, 'a sibling sharing the prefix');
  assert.equal(isWithin(root, path.resolve('/srv')), false);
  assert.equal(isWithin(root, path.join(root, '..', 'other')), false);
  assert.equal(isWithin(root, path.join(root, 'a', '..', '..', 'data', 'b')), true, 'normalised first');
});
