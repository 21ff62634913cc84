// Builders for hand-made SFTP packets and SCP lines: the faults no real client or server will produce.

type Field = number | bigint | string | Buffer;

/** A field list -> bytes: number = uint32, bigint = uint64, string/Buffer = SSH string (uint32 length + bytes). */
export function fields(...fs: Field[]): Buffer {
  return Buffer.concat(
    fs.map((f) => {
      if (typeof f === 'number') {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(f);
        return b;
      }
      if (typeof f === 'bigint') {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(f);
        return b;
      }
      const body = typeof f === 'string' ? Buffer.from(f) : f;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      return Buffer.concat([len, body]);
    }),
  );
}

/** One SFTP packet: uint32 length, type byte, fields. */
export function packet(type: number, ...fs: Field[]): Buffer {
  const body = Buffer.concat([Buffer.from([type]), fields(...fs)]);
  return Buffer.concat([fields(body.length).subarray(0, 4), body]);
}

export const FXP = { INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, REMOVE: 13, STATUS: 101, HANDLE: 102, DATA: 103 } as const;

/** The opening of a healthy session: INIT from the client, VERSION 3 from the server. */
export const init = (): Buffer => packet(FXP.INIT, 3);
export const version = (v = 3): Buffer => packet(FXP.VERSION, v);
export const status = (id: number, code: number, msg = ''): Buffer => packet(FXP.STATUS, id, code, msg, '');
export const ATTRS_NONE = 0;
