/**
 * MarkTable: chunk digest → "last marked" time (u32 epoch seconds), plus a "seen in the bucket" flag, for 10M+ chunks
 * in a small, predictable amount of memory.
 *
 * Layout: 256 segments, chosen by the first byte of the key; each is an open-addressing table with linear probing in
 * ONE Int32Array of 3 words per slot (`key1, key2, time`: 12 bytes) plus one bit per slot for "seen" in a separate
 * Uint8Array: 12.125 bytes per slot, no JS object or string per entry. A segment grows by half when an insert would
 * push its load above 0.9, so the table holds 13.5 to 20.2 bytes per entry (about 13.8 when pre-sized). Linear
 * probing at that load costs little here: a lookup of a present key (the sweep's) reads ~5.5 slots on average, 12
 * bytes each, mostly in one or two cache lines (bench/mark-table.ts at 3M entries: the sweep's in-key-order lookups
 * ~80 ns as with 16-byte slots at 0.75; random hits ~170 ns against ~150, misses ~300 ns against ~210). Growing one
 * segment at a time is what keeps memory flat: a single array would need its old and its doubled copy at once (3× the
 * entries' worth at the moment of growth), a segment's growth costs 1/256 of that. Digests are uniform, so the
 * segments fill evenly and a table pre-sized for N entries rarely grows at all.
 *
 * Key = the FIRST 9 BYTES of the 32-byte SHA-256 digest: byte 0 picks the segment (and is not stored), bytes 1–4 and
 * 5–8 are the slot's two key words, read big-endian (so a slot's words, printed as hex, are hex characters 2–17 of the
 * chunk key, and the slot order within a segment follows the digest order).
 * - Why 72 bits are enough: SHA-256 digests are uniformly distributed, so among n distinct chunks some two share a
 *   72-bit prefix with probability about n²/2⁷³ (10⁷ chunks: ~1·10⁻⁸; 10⁸ chunks: ~1·10⁻⁶). And a collision can only
 *   err in the SAFE direction: the two chunks share one entry, which keeps the LATER of their mark times, so an
 *   unreferenced chunk may look marked and be kept (garbage left behind for as long as its twin is referenced), while a
 *   referenced one can never look unmarked, nor older than its own mark.
 * - The hash is the first key word itself (digests are already uniform; no mixing needed), mapped onto the
 *   segment's capacity by a multiply (`word · capacity / 2³²`) rather than a mask, so a capacity need not be a power
 *   of two. A malicious client able to upload chunks whose digests share a 40-bit prefix (~2⁴⁰ hashes each) could
 *   only slow the table down, never change a decision.
 * - The all-zero key words mark an empty slot, so in each segment the one key whose bytes 1–8 are zero lives outside
 *   the slots (the segment's `zero*` fields).
 *
 * Not thread-safe (nothing in Node is), and not to be modified while a `writeRecords` export is in progress.
 */
/** Bytes of the key taken from a digest. */
export const MARK_KEY_SIZE = 9;
/** One exported record: the 9 key bytes, then the time as u32 little-endian (see `writeRecords`). */
export const MARK_RECORD_SIZE = 13;
/** A segment grows when an insert would push its size / capacity above this. */
export const MAX_LOAD_FACTOR = 0.9;
/** Segments (by the key's first byte). */
export const SEGMENTS = 256;
/** A full segment grows to this many times its capacity. */
export const GROWTH_FACTOR = 1.5;

const WORDS_PER_SLOT = 3;
/** Digests in a list (index digests) are 32 bytes apart. */
const DIGEST_STRIDE = 32;
/** Digests whose home slots markAll touches before probing them. */
const PREFETCH_BATCH = 32;
/** Smallest segment. */
const MIN_CAPACITY = 16;
/** Slots of one segment (2²⁸ slots in all: 3 GiB of slots). */
const MAX_SEGMENT_CAPACITY = 2 ** 20;
/**
 * writeRecords positions: segment · POSITION_STRIDE + slot; slot = the segment's capacity stands for the segment's
 * zero key (the one kept outside the slots).
 */
const POSITION_STRIDE = 2 * MAX_SEGMENT_CAPACITY;
const END_POSITION = SEGMENTS * POSITION_STRIDE;
const TWO_POW_32 = 4294967296;

/** Value of a lowercase hex character code, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;

/** The big-endian value (as int32) of `count` lowercase hex characters at `position`; throws on anything else. */
function hexValue(hex: string, position: number, count: number): number {
  let word = 0;
  for (let j = position; j < position + count; j++) {
    const code = hex.charCodeAt(j);
    const value = code < 128 ? HEX_VALUE[code]! : -1;
    if (value < 0) throw new RangeError(`not a lowercase hex digest: ${JSON.stringify(hex)}`);
    word = (word << 4) | value;
  }
  return word;
}

/** The big-endian 32-bit word (as int32) of 4 bytes at `offset` (bounds checked by the caller). */
function byteWord(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
}

function checkTime(time: number): void {
  if (time >>> 0 !== time) throw new RangeError(`mark time must be an integer in [0, 2^32): ${time}`);
}

function checkHexLength(hex: string): void {
  if (hex.length !== 64) throw new RangeError(`not a 64-character digest: ${JSON.stringify(hex)}`);
}

/** Smallest segment capacity whose load stays ≤ MAX_LOAD_FACTOR with `entries` entries. */
function capacityFor(entries: number): number {
  let capacity = Math.max(MIN_CAPACITY, Math.ceil(entries / MAX_LOAD_FACTOR));
  while (Math.floor(capacity * MAX_LOAD_FACTOR) < entries) capacity += 1;
  if (capacity > MAX_SEGMENT_CAPACITY) {
    throw new RangeError(
      `MarkTable cannot hold ${entries} entries in one segment (at most ${Math.floor(MAX_SEGMENT_CAPACITY * MAX_LOAD_FACTOR)})`,
    );
  }
  return capacity;
}

/**
 * Entries one segment should have room for when the table holds `entries`: the mean plus four standard deviations
 * (a segment's share is binomial), so that a pre-sized table practically never grows; 6 % headroom at 1M, 2 % at 10M.
 */
function segmentShareOf(entries: number): number {
  const mean = entries / SEGMENTS;
  return Math.ceil(mean + 4 * Math.sqrt(mean) + 1);
}

/** One open-addressing table: the keys whose first byte is its index. */
interface Segment {
  /** `key1, key2, time` per slot; all-zero key words = empty slot. Keys as int32, time as uint32 bits. */
  slots: Int32Array;
  /** One "seen" bit per slot. */
  seen: Uint8Array;
  capacity: number;
  /** capacity / 2³²: slot of a key = floor((key1 >>> 0) · scale). */
  scale: number;
  /** Entries in the slots (the zero key not counted). */
  used: number;
  /** Largest `used` allowed before the next insert grows the segment. */
  growAt: number;
  /** The segment's key with zero key words, kept outside the slots. */
  zeroPresent: boolean;
  zeroTime: number;
  zeroSeen: boolean;
}

function newSegment(capacity: number): Segment {
  return {
    slots: new Int32Array(capacity * WORDS_PER_SLOT),
    seen: new Uint8Array(Math.ceil(capacity / 8)),
    capacity,
    scale: capacity / TWO_POW_32,
    used: 0,
    growAt: Math.floor(capacity * MAX_LOAD_FACTOR),
    zeroPresent: false,
    zeroTime: 0,
    zeroSeen: false,
  };
}

/** An ArrayBuffer that can hand its memory back at once (ES2024 `transfer`; Node ≥ 21). */
type Transferable = ArrayBuffer & { transfer(newByteLength?: number): ArrayBuffer };

/**
 * Frees a replaced segment's arrays now rather than at V8's next full collection: detaching a buffer drops its
 * backing store at once. Without it, the segments replaced while the table grows wait for a major GC (which an
 * allocation-light mark phase may not trigger for a long time) and add up to about a third of the table in RSS.
 */
function release(segment: Segment): void {
  (segment.slots.buffer as Transferable).transfer(0);
  (segment.seen.buffer as Transferable).transfer(0);
}

/** Home slot of a key in its segment. */
function homeSlot(segment: Segment, k1: number): number {
  return ((k1 >>> 0) * segment.scale) >>> 0;
}

function zeroCount(segment: Segment): number {
  return segment.zeroPresent ? 1 : 0;
}

export class MarkTable {
  readonly #segments: Segment[] = [];
  /** Keeps the prefetching loads of markAll observable, so that the compiler cannot drop them. */
  #sink = 0;
  /** Reused key view handed to forEach callbacks. */
  readonly #keyView = new Uint8Array(MARK_KEY_SIZE);

  constructor(expectedEntries = 1024) {
    if (!(expectedEntries >= 0) || !Number.isFinite(expectedEntries)) {
      throw new RangeError(`expected entries must be a non-negative number: ${expectedEntries}`);
    }
    const capacity = capacityFor(expectedEntries === 0 ? 0 : segmentShareOf(expectedEntries));
    for (let index = 0; index < SEGMENTS; index++) this.#segments.push(newSegment(capacity));
  }

  /** Number of distinct keys. */
  get size(): number {
    let used = 0;
    for (const segment of this.#segments) used += segment.used + zeroCount(segment);
    return used;
  }

  /** Number of slots (all segments). */
  get capacity(): number {
    let capacity = 0;
    for (const segment of this.#segments) capacity += segment.capacity;
    return capacity;
  }

  /** Bytes held by the table's arrays (the per-entry cost is this / size). */
  approximateBytes(): number {
    let bytes = 128;
    for (const segment of this.#segments) bytes += segment.slots.byteLength + segment.seen.byteLength + 96;
    return bytes;
  }

  // ---- byte API (digest bytes at an offset; only the first 9 bytes are read) ----

  /** Records `time` for the digest at `offset` (keeps the later of the stored and the given time). True when new. */
  mark(digest: Uint8Array, offset: number, time: number): boolean {
    this.#checkBytes(digest, offset);
    return this.#mark(digest[offset]!, byteWord(digest, offset + 1), byteWord(digest, offset + 5), time);
  }

  /**
   * Marks every 32-byte digest of `digests` (n × 32 bytes, as parsed from an index) with `time`; returns how many were
   * new. Same result as calling `mark` for each, but several times faster on a large table: it first touches the home
   * slots of a batch of digests (independent loads the CPU overlaps), then probes them while they are in cache.
   */
  markAll(digests: Uint8Array, time: number): number {
    checkTime(time);
    if (digests.length % DIGEST_STRIDE !== 0) {
      throw new RangeError(`digest list of ${digests.length} bytes is not a multiple of ${DIGEST_STRIDE}`);
    }
    let added = 0;
    const batchBytes = PREFETCH_BATCH * DIGEST_STRIDE;
    const segments = this.#segments;
    for (let start = 0; start < digests.length; start += batchBytes) {
      const end = Math.min(digests.length, start + batchBytes);
      let touched = 0;
      for (let at = start; at < end; at += DIGEST_STRIDE) {
        const segment = segments[digests[at]!]!;
        touched ^= segment.slots[homeSlot(segment, byteWord(digests, at + 1)) * WORDS_PER_SLOT]!;
      }
      this.#sink ^= touched;
      for (let at = start; at < end; at += DIGEST_STRIDE) {
        if (this.#mark(digests[at]!, byteWord(digests, at + 1), byteWord(digests, at + 5), time)) added += 1;
      }
    }
    return added;
  }

  /** The stored time of the digest at `offset`, 0 when absent. */
  timeOf(digest: Uint8Array, offset: number): number {
    this.#checkBytes(digest, offset);
    return this.#timeOf(digest[offset]!, byteWord(digest, offset + 1), byteWord(digest, offset + 5));
  }

  /** Whether the digest at `offset` is in the table. */
  has(digest: Uint8Array, offset: number): boolean {
    this.#checkBytes(digest, offset);
    return this.#has(digest[offset]!, byteWord(digest, offset + 1), byteWord(digest, offset + 5));
  }

  /** Flags the digest as seen in the bucket. Absent digests are NOT inserted; returns whether it was present. */
  setSeen(digest: Uint8Array, offset: number): boolean {
    this.#checkBytes(digest, offset);
    return this.#setSeen(digest[offset]!, byteWord(digest, offset + 1), byteWord(digest, offset + 5));
  }

  // ---- hex API (a 64-character lowercase hex digest; parsed in place, no allocation) ----

  markHex(hex: string, time: number): boolean {
    checkHexLength(hex);
    return this.#mark(hexValue(hex, 0, 2), hexValue(hex, 2, 8), hexValue(hex, 10, 8), time);
  }

  timeOfHex(hex: string): number {
    checkHexLength(hex);
    return this.#timeOf(hexValue(hex, 0, 2), hexValue(hex, 2, 8), hexValue(hex, 10, 8));
  }

  hasHex(hex: string): boolean {
    checkHexLength(hex);
    return this.#has(hexValue(hex, 0, 2), hexValue(hex, 2, 8), hexValue(hex, 10, 8));
  }

  /** Like setSeen (returns whether present; absent digests are not inserted). */
  setSeenHex(hex: string): boolean {
    checkHexLength(hex);
    return this.#setSeen(hexValue(hex, 0, 2), hexValue(hex, 2, 8), hexValue(hex, 10, 8));
  }

  /** setSeenHex and timeOfHex in one probe: flags the digest as seen (if present) and returns its time (0: absent). */
  seenTimeOfHex(hex: string): number {
    checkHexLength(hex);
    const segment = this.#segments[hexValue(hex, 0, 2)]!;
    const k1 = hexValue(hex, 2, 8);
    const k2 = hexValue(hex, 10, 8);
    if ((k1 | k2) === 0) {
      if (segment.zeroPresent) segment.zeroSeen = true;
      return segment.zeroPresent ? segment.zeroTime : 0;
    }
    const slot = this.#find(segment, k1, k2);
    if (slot < 0) return 0;
    segment.seen[slot >> 3]! |= 1 << (slot & 7);
    return segment.slots[slot * WORDS_PER_SLOT + 2]! >>> 0;
  }

  // ---- whole-table operations ----

  /** Calls back for every entry. `key9` is ONE reused view: copy it to keep it. Do not modify the table meanwhile. */
  forEach(callback: (key9: Uint8Array, time: number, seen: boolean) => void): void {
    const key = this.#keyView;
    const view = new DataView(key.buffer);
    this.#segments.forEach((segment, index) => {
      key[0] = index;
      if (segment.zeroPresent) {
        key.fill(0, 1);
        callback(key, segment.zeroTime, segment.zeroSeen);
      }
      const { slots, seen, capacity } = segment;
      for (let slot = 0; slot < capacity; slot++) {
        const base = slot * WORDS_PER_SLOT;
        const k1 = slots[base]!;
        const k2 = slots[base + 1]!;
        if ((k1 | k2) === 0) continue;
        view.setInt32(1, k1);
        view.setInt32(5, k2);
        callback(key, slots[base + 2]! >>> 0, (seen[slot >> 3]! & (1 << (slot & 7))) !== 0);
      }
    });
  }

  /** Entries with time ≥ minTime that were never flagged seen: referenced chunks missing from the bucket. */
  countUnseenSince(minTime: number): number {
    let count = 0;
    for (const segment of this.#segments) {
      const { slots, seen, capacity } = segment;
      if (segment.zeroPresent && segment.zeroTime >= minTime && !segment.zeroSeen) count += 1;
      for (let slot = 0; slot < capacity; slot++) {
        const base = slot * WORDS_PER_SLOT;
        if ((slots[base]! | slots[base + 1]!) === 0) continue;
        if (slots[base + 2]! >>> 0 >= minTime && (seen[slot >> 3]! & (1 << (slot & 7))) === 0) count += 1;
      }
    }
    return count;
  }

  /** Entries with time ≥ minTime (what `writeRecords` exports with the same minTime). */
  countSince(minTime: number): number {
    let count = 0;
    for (const segment of this.#segments) {
      const { slots, capacity } = segment;
      if (segment.zeroPresent && segment.zeroTime >= minTime) count += 1;
      for (let slot = 0; slot < capacity; slot++) {
        const base = slot * WORDS_PER_SLOT;
        if ((slots[base]! | slots[base + 1]!) === 0) continue;
        if (slots[base + 2]! >>> 0 >= minTime) count += 1;
      }
    }
    return count;
  }

  /**
   * Exports entries with time ≥ minTime as 13-byte records (9 key bytes, u32 little-endian time) into `out`, as many
   * as fit, starting at position `from` (0 for the first call). Returns the records written and the position to pass
   * next, -1 when the table is exhausted. Positions are only valid while the table is not modified.
   */
  writeRecords(minTime: number, out: Uint8Array, from: number): { records: number; next: number } {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const maxRecords = Math.floor(out.byteLength / MARK_RECORD_SIZE);
    let records = 0;
    // A position is segment · POSITION_STRIDE + slot; slot = capacity is the segment's zero key.
    let position = from;
    while (position < END_POSITION && records < maxRecords) {
      const index = Math.floor(position / POSITION_STRIDE);
      const segment = this.#segments[index]!;
      const { slots, capacity } = segment;
      let slot = position - index * POSITION_STRIDE;
      for (; slot < capacity && records < maxRecords; slot++) {
        const base = slot * WORDS_PER_SLOT;
        const k1 = slots[base]!;
        const k2 = slots[base + 1]!;
        if ((k1 | k2) === 0) continue;
        const time = slots[base + 2]! >>> 0;
        if (time < minTime) continue;
        const at = records * MARK_RECORD_SIZE;
        out[at] = index;
        view.setInt32(at + 1, k1);
        view.setInt32(at + 5, k2);
        view.setUint32(at + 9, time, true);
        records += 1;
      }
      if (slot === capacity && records < maxRecords) {
        if (segment.zeroPresent && segment.zeroTime >= minTime) {
          const at = records * MARK_RECORD_SIZE;
          out[at] = index;
          out.fill(0, at + 1, at + MARK_KEY_SIZE);
          view.setUint32(at + 9, segment.zeroTime, true);
          records += 1;
        }
        slot += 1;
      }
      position = slot <= capacity ? index * POSITION_STRIDE + slot : (index + 1) * POSITION_STRIDE;
    }
    return { records, next: position >= END_POSITION ? -1 : position };
  }

  /**
   * Makes room for `entries` entries in total without further growth (one segment at a time). Each segment is sized
   * for its expected share plus four standard deviations, no more: entries beyond that grow a segment by half, one
   * segment at a time, so no headroom is needed against a spike.
   */
  reserve(entries: number): void {
    const share = segmentShareOf(entries);
    this.#segments.forEach((segment, index) => {
      if (share > segment.growAt) this.#rehash(index, capacityFor(share));
    });
  }

  /** Removes every entry (keeps the capacity). */
  clear(): void {
    for (const segment of this.#segments) {
      segment.slots.fill(0);
      segment.seen.fill(0);
      segment.used = 0;
      segment.zeroPresent = false;
      segment.zeroTime = 0;
      segment.zeroSeen = false;
    }
  }

  // ---- internals ----

  #checkBytes(digest: Uint8Array, offset: number): void {
    if (!(offset >= 0 && offset + MARK_KEY_SIZE <= digest.length)) {
      throw new RangeError(`digest at offset ${offset} is outside the ${digest.length}-byte buffer`);
    }
  }

  /** The slot of the segment holding the key (≥ 0), or ~slot of the empty slot where it would go (< 0). Key ≠ 0. */
  #find(segment: Segment, k1: number, k2: number): number {
    const { slots, capacity } = segment;
    let slot = homeSlot(segment, k1);
    for (;;) {
      const base = slot * WORDS_PER_SLOT;
      const s1 = slots[base]!;
      const s2 = slots[base + 1]!;
      if (s1 === k1 && s2 === k2) return slot;
      if ((s1 | s2) === 0) return ~slot;
      slot += 1;
      if (slot === capacity) slot = 0;
    }
  }

  #mark(index: number, k1: number, k2: number, time: number): boolean {
    checkTime(time);
    let segment = this.#segments[index]!;
    if ((k1 | k2) === 0) {
      const added = !segment.zeroPresent;
      // The later time wins: an entry shared by two chunks never gets older than either's mark.
      if (added || time > segment.zeroTime) segment.zeroTime = time;
      segment.zeroPresent = true;
      return added;
    }
    let slot = this.#find(segment, k1, k2);
    if (slot >= 0) {
      const at = slot * WORDS_PER_SLOT + 2;
      // The later time wins: an entry shared by two chunks never gets older than either's mark.
      if (time > segment.slots[at]! >>> 0) segment.slots[at] = time;
      return false;
    }
    if (segment.used >= segment.growAt) {
      this.#rehash(index, Math.max(segment.capacity + 1, Math.ceil(segment.capacity * GROWTH_FACTOR)));
      segment = this.#segments[index]!;
      slot = this.#find(segment, k1, k2);
    }
    const base = ~slot * WORDS_PER_SLOT;
    const slots = segment.slots;
    slots[base] = k1;
    slots[base + 1] = k2;
    slots[base + 2] = time;
    segment.used += 1;
    return true;
  }

  #timeOf(index: number, k1: number, k2: number): number {
    const segment = this.#segments[index]!;
    if ((k1 | k2) === 0) return segment.zeroPresent ? segment.zeroTime : 0;
    const slot = this.#find(segment, k1, k2);
    return slot >= 0 ? segment.slots[slot * WORDS_PER_SLOT + 2]! >>> 0 : 0;
  }

  #has(index: number, k1: number, k2: number): boolean {
    const segment = this.#segments[index]!;
    if ((k1 | k2) === 0) return segment.zeroPresent;
    return this.#find(segment, k1, k2) >= 0;
  }

  #setSeen(index: number, k1: number, k2: number): boolean {
    const segment = this.#segments[index]!;
    if ((k1 | k2) === 0) {
      if (segment.zeroPresent) segment.zeroSeen = true;
      return segment.zeroPresent;
    }
    const slot = this.#find(segment, k1, k2);
    if (slot < 0) return false;
    segment.seen[slot >> 3]! |= 1 << (slot & 7);
    return true;
  }

  /** Moves every entry of one segment (and its seen bit) into a new segment of `capacity` slots. */
  #rehash(index: number, capacity: number): void {
    if (capacity > MAX_SEGMENT_CAPACITY) {
      throw new RangeError(
        `MarkTable cannot grow a segment beyond ${MAX_SEGMENT_CAPACITY} slots (${this.size} entries)`,
      );
    }
    const old = this.#segments[index]!;
    const grown = newSegment(capacity);
    const { slots, seen } = grown;
    for (let from = 0; from < old.capacity; from++) {
      const at = from * WORDS_PER_SLOT;
      const k1 = old.slots[at]!;
      const k2 = old.slots[at + 1]!;
      if ((k1 | k2) === 0) continue;
      let slot = homeSlot(grown, k1);
      while ((slots[slot * WORDS_PER_SLOT]! | slots[slot * WORDS_PER_SLOT + 1]!) !== 0) {
        slot += 1;
        if (slot === capacity) slot = 0;
      }
      const to = slot * WORDS_PER_SLOT;
      slots[to] = k1;
      slots[to + 1] = k2;
      slots[to + 2] = old.slots[at + 2]!;
      if ((old.seen[from >> 3]! & (1 << (from & 7))) !== 0) seen[slot >> 3]! |= 1 << (slot & 7);
    }
    grown.used = old.used;
    grown.zeroPresent = old.zeroPresent;
    grown.zeroTime = old.zeroTime;
    grown.zeroSeen = old.zeroSeen;
    this.#segments[index] = grown;
    release(old);
  }
}
