import { parseQuantity, QUANTITY_PATTERN, wholeMebibytes } from './quantity.js';

describe('parseQuantity', () => {
  it('reads binary and decimal suffixes, plain numbers and exponents as bytes', () => {
    // GIVEN quantities as Kubernetes and recorder.yaml write them WHEN they are read THEN each is its byte count
    expect(parseQuantity('10Gi')).toBe(10 * 2 ** 30);
    expect(parseQuantity('512Mi')).toBe(512 * 2 ** 20);
    expect(parseQuantity('1Ti')).toBe(2 ** 40);
    expect(parseQuantity('500M')).toBe(500e6);
    expect(parseQuantity('2k')).toBe(2000);
    expect(parseQuantity('1e9')).toBe(1e9);
    expect(parseQuantity('1.5Ki')).toBe(1536);
    expect(parseQuantity(' 1024 ')).toBe(1024);
    expect(parseQuantity(1024)).toBe(1024);
    expect(parseQuantity(2.7)).toBe(2);
  });

  it('refuses what is not a quantity', () => {
    // GIVEN words, negative numbers, unknown units and non-finite numbers WHEN they are read THEN none is a size
    expect(['lots', '-1Gi', '10GB', '10 Gi Gi', '', 'Gi'].map((q) => parseQuantity(q))).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(parseQuantity(-1)).toBeUndefined();
    expect(parseQuantity(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it('accepts with QUANTITY_PATTERN exactly the texts it reads', () => {
    // GIVEN the schema pattern WHEN texts are matched THEN it agrees with parseQuantity
    const re = new RegExp(QUANTITY_PATTERN, 'u');
    for (const q of ['10Gi', '500M', '1e9', '1.5Ki', ' 7 ', 'lots', '-1Gi', '10GB', '']) {
      expect([q, re.test(q)]).toEqual([q, parseQuantity(q) !== undefined]);
    }
  });
});

describe('wholeMebibytes', () => {
  it('gives whole mebibytes for Mi, Gi and Ti sizes and nothing for fractions of one', () => {
    expect(wholeMebibytes('100Mi')).toBe(100);
    expect(wholeMebibytes('10Gi')).toBe(10240);
    expect(wholeMebibytes('1Ti')).toBe(1048576);
    expect(wholeMebibytes('10G')).toBeUndefined();
    expect(wholeMebibytes('1536Ki')).toBeUndefined();
    expect(wholeMebibytes('lots')).toBeUndefined();
  });
});
