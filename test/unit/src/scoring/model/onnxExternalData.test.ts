// An ONNX model's external-data locations are found wherever a tensor can be (initializers,
// attributes, subgraphs), and the scorer refuses one that leads out of the export folder.
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { assertExternalDataInside, externalDataLocations, OnnxFormatError } from '../../../../../src/scoring/model/onnxExternalData';

// Protobuf by hand: a length-delimited field is (field << 3 | 2), a varint length, the bytes.
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}
const field = (number: number, body: number[] | string): number[] => {
  const bytes = typeof body === 'string' ? [...Buffer.from(body, 'utf8')] : body;
  return [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
};
const int = (number: number, value: number): number[] => [...varint(number << 3), ...varint(value)];
const tensor = (location: string) => [...field(8, 'w'), ...field(13, [...field(1, 'location'), ...field(2, location)]), ...int(14, 1)];
const graph = (...parts: number[][]) => parts.flat();
const model = (g: number[]) => Uint8Array.from([...int(1, 8), ...field(7, g)]);

const base = mkdtempSync(join(tmpdir(), 'pacs-onnx-external-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

describe('externalDataLocations', () => {
  test('initializers, sparse initializers, node attributes and their subgraphs', () => {
    const inner = graph(field(5, tensor('in-subgraph.bin')));
    const node = field(1, [...field(4, 'If'), ...field(5, [...field(1, 'then_branch'), ...field(6, inner)]), ...field(5, [...field(5, tensor('attr.bin'))])]);
    const sparse = field(15, [...field(1, tensor('sparse.bin'))]);
    const bytes = model(graph(field(5, tensor('policy.onnx.data')), node, sparse, field(5, tensor('policy.onnx.data'))));
    assert.deepEqual(externalDataLocations(bytes).sort(), ['attr.bin', 'in-subgraph.bin', 'policy.onnx.data', 'sparse.bin']);
  });

  test('a model without external data has none; garbage is an OnnxFormatError, not a crash', () => {
    assert.deepEqual(externalDataLocations(model(graph(field(5, [...field(8, 'w'), ...field(9, [0, 0, 0, 0])])))), []);
    assert.throws(() => externalDataLocations(Uint8Array.from([0x3a, 0xff, 0xff, 0x01])), OnnxFormatError);
    assert.throws(() => externalDataLocations(Uint8Array.from([0x0b])), OnnxFormatError);
    let nested: number[] = field(5, tensor('deep'));
    for (let i = 0; i < 100; i++) nested = field(1, field(5, field(6, nested)));
    assert.throws(() => externalDataLocations(model(nested)), /nested deeper than 64/);
  });
});

describe('assertExternalDataInside', () => {
  const setup = (location: string) => {
    const dir = join(base, `case-${n++}`);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    writeFileSync(join(dir, 'secret.bin'), 'SECRET');
    const path = join(dir, 'onnx', 'policy.onnx');
    writeFileSync(path, model(graph(field(5, tensor(location)))));
    return { dir, path };
  };

  test('weights beside the model are accepted', async () => {
    const { dir, path } = setup('policy.onnx.data');
    writeFileSync(join(dir, 'onnx', 'policy.onnx.data'), 'weights');
    await assertExternalDataInside(path);
  });

  for (const location of ['../secret.bin', '/etc/passwd', 'sub/policy.onnx.data']) {
    test(`a location ${location} is refused`, async () => {
      const { path } = setup(location);
      await assert.rejects(assertExternalDataInside(path), (err: Error) => err.name === 'RunFileError' && err.message.includes('external data location'));
    });
  }

  test('a linked or hard-linked weights file is refused', async () => {
    const linked = setup('policy.onnx.data');
    symlinkSync(join(linked.dir, 'secret.bin'), join(linked.dir, 'onnx', 'policy.onnx.data'));
    await assert.rejects(assertExternalDataInside(linked.path), /symbolic link/);
    const hard = setup('policy.onnx.data');
    linkSync(join(hard.dir, 'secret.bin'), join(hard.dir, 'onnx', 'policy.onnx.data'));
    await assert.rejects(assertExternalDataInside(hard.path), /hard link/);
  });
});
