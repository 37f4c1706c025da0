import { randomBytes } from 'node:crypto';

// Crockford base32: no I, L, O, U, so ids read aloud and typed by hand survive.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = 0;
let lastRandom = new Uint8Array(10);

/** Time-ordered unique id (ULID layout: 48-bit ms time + 80 random bits, monotonic within a process). */
export function newId(now = Date.now()): string {
  if (now <= lastTime) {
    now = lastTime;
    // Same millisecond: increment the random part so ids keep their order.
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      if (lastRandom[i] === 255) lastRandom[i] = 0;
      else {
        lastRandom[i]++;
        break;
      }
    }
  } else {
    lastTime = now;
    lastRandom = new Uint8Array(randomBytes(10));
  }
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let bits = 0;
  let value = 0;
  let rand = '';
  for (const byte of lastRandom) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      rand += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return time + rand;
}

/** Short, human-friendly ticket id: 7 Crockford characters (34 billion values; a clash is retried). */
export function newTicketId(): string {
  const bytes = randomBytes(7);
  let s = '';
  for (const b of bytes) s += ALPHABET[b & 31];
  return s;
}

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}
