// lz-string's URI-safe codec (compressToEncodedURIComponent and its inverse), written
// for chainserve. Share links put the config in the URL this way, exactly as LangServe's
// playground did, so /c/<hash>/ links from either work on both. The server's decoder is
// chainserve/server/lzstring.py; a browser test checks the two agree.
//
// LZW over UTF-16 code units: codes 0/1 introduce an 8/16-bit literal, 2 ends the
// stream, 3+ index a dictionary both sides grow in step. Codes are written LSB first
// and packed six bits per character of the alphabet below.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$";
const BITS = 6;

class BitWriter {
  constructor() {
    this.out = [];
    this.value = 0;
    this.position = 0;
  }

  write(code, width) {
    for (let i = 0; i < width; i++) {
      this.value = (this.value << 1) | (code & 1);
      code >>= 1;
      if (++this.position === BITS) this.#emit();
    }
  }

  /** Pad the last character with zeros; like lz-string, always emits one more. */
  finish() {
    for (;;) {
      this.value <<= 1;
      if (this.position === BITS - 1) return this.#emit().out.join("");
      this.position++;
    }
  }

  #emit() {
    this.out.push(ALPHABET[this.value]);
    this.value = 0;
    this.position = 0;
    return this;
  }
}

/** Compress a string into lz-string's URI-safe alphabet. */
export function compressToEncodedURIComponent(input) {
  if (input === null || input === undefined) return "";
  const writer = new BitWriter();
  const dictionary = new Map();
  const pending = new Set(); // single characters not yet sent as literals
  let dictSize = 3;
  let numBits = 2;
  let enlargeIn = 2;
  const grow = () => {
    if (--enlargeIn === 0) enlargeIn = 2 ** numBits++;
  };
  const emit = (w) => {
    if (pending.has(w)) {
      const code = w.charCodeAt(0);
      const wide = code >= 256;
      writer.write(wide ? 1 : 0, numBits);
      writer.write(code, wide ? 16 : 8);
      grow();
      pending.delete(w);
    } else {
      writer.write(dictionary.get(w), numBits);
    }
    grow();
  };
  let w = "";
  for (const c of splitUnits(input)) {
    if (!dictionary.has(c)) {
      dictionary.set(c, dictSize++);
      pending.add(c);
    }
    const wc = w + c;
    if (dictionary.has(wc)) {
      w = wc;
    } else {
      emit(w);
      dictionary.set(wc, dictSize++);
      w = c;
    }
  }
  if (w !== "") emit(w);
  writer.write(2, numBits);
  return writer.finish();
}

/** Decompress; null for input that is not a valid stream. */
export function decompressFromEncodedURIComponent(input) {
  if (input === null || input === undefined) return "";
  if (input === "") return null;
  const values = [];
  for (const ch of input.replace(/ /g, "+")) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) return null;
    values.push(index);
  }
  let value = values[0];
  let mask = 1 << (BITS - 1);
  let next = 1;
  const read = (width) => {
    let bits = 0;
    for (let power = 1; power < 1 << width; power <<= 1) {
      if (value & mask) bits |= power;
      mask >>= 1;
      if (mask === 0) {
        mask = 1 << (BITS - 1);
        value = values[next++] ?? 0;
      }
    }
    return bits;
  };
  const literal = (code) => (code < 2 ? String.fromCharCode(read(code === 0 ? 8 : 16)) : null);
  const first = read(2);
  if (first === 2) return "";
  const dictionary = ["", "", "", literal(first)];
  let w = dictionary[3];
  const result = [w];
  let numBits = 3;
  let enlargeIn = 4;
  const grow = () => {
    if (--enlargeIn === 0) enlargeIn = 2 ** numBits++;
  };
  for (;;) {
    if (next > values.length) return "";
    let code = read(numBits);
    if (code === 2) return result.join("");
    if (code < 2) {
      dictionary.push(literal(code));
      code = dictionary.length - 1;
      grow();
    }
    let entry;
    if (code < dictionary.length) entry = dictionary[code];
    else if (code === dictionary.length) entry = w + w.charAt(0);
    else return null;
    result.push(entry);
    dictionary.push(w + entry.charAt(0));
    grow();
    w = entry;
  }
}

/** The string's UTF-16 code units, as one-unit strings (surrogates kept apart). */
function splitUnits(text) {
  const units = new Array(text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charAt(i);
  return units;
}
