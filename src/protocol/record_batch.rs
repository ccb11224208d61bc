//! Kafka record batches, format v2 ("magic 2", Kafka 0.11+), as laid out in the "Record Batch"
//! section of the Kafka protocol guide.
//!
//! A batch is a 61-byte header followed by its records section, which is compressed as a whole
//! when the batch has a codec. Offsets and timestamps of records are deltas from the header's
//! base offset and base timestamp. All variable-length integers are zigzag varints.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::protocol::compression::{self, Compression};
use crate::record::{Header, TimestampType};

mod decode;
pub(crate) use decode::*;

/// Size of the fixed batch header, up to and including the record count.
pub(crate) const BATCH_HEADER_LEN: usize = 61;
/// baseOffset and batchLength: the bytes that batchLength does not count.
const LOG_OVERHEAD: usize = 12;
const MAGIC: i8 = 2;

const LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
/// The CRC covers everything from here to the end of the batch.
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// The low three bits name the codec; 0 is none.
const CODEC_BITS: i16 = 0b111;
const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;

/// The smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each. Bounds how many records a section can hold.
const MIN_RECORD_LEN: usize = 7;
/// The smallest encoded header: key length and value length.
const MIN_HEADER_LEN: usize = 2;

/// Accumulates records for one partition into a single buffer of encoded (uncompressed)
/// records, so appending costs no allocation beyond that buffer's growth.
///
/// [`build`](Self::build) takes `&self` and is deterministic: building again with the same
/// producer id, epoch and sequence (a retry) yields identical bytes. It recompresses each time,
/// so callers that retry should keep the built bytes rather than rebuild (and
/// [`restamp`] them in place for another sequence), and may then
/// [`release_records`](Self::release_records).
#[derive(Debug, Clone)]
pub(crate) struct RecordBatchBuilder {
    compression: Compression,
    compression_level: Option<i32>,
    /// A batch header's worth of zeros, then the encoded records: an uncompressed batch is
    /// built in place ([`take_built`](Self::take_built)), its records never copied.
    records: Vec<u8>,
    /// Length `records` had when released; `None` while they are kept.
    released: Option<usize>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl RecordBatchBuilder {
    /// `capacity_hint` is the expected size of the encoded records (e.g. `batch.size`).
    pub(crate) fn new(
        compression: Compression,
        compression_level: Option<i32>,
        capacity_hint: usize,
    ) -> Self {
        Self::in_buffer(
            compression,
            compression_level,
            Vec::with_capacity(BATCH_HEADER_LEN + capacity_hint),
        )
    }

    /// A builder writing into `records` (emptied first): a buffer kept from a completed batch.
    pub(crate) fn in_buffer(
        compression: Compression,
        compression_level: Option<i32>,
        mut records: Vec<u8>,
    ) -> Self {
        records.clear();
        records.resize(BATCH_HEADER_LEN, 0);
        RecordBatchBuilder {
            compression,
            compression_level,
            records,
            released: None,
            count: 0,
            base_timestamp: 0,
            max_timestamp: 0,
        }
    }

    /// Appends a record and returns its offset delta (its index in the batch).
    ///
    /// The first record's timestamp becomes the batch's base timestamp; later records may be
    /// older (negative deltas are fine).
    pub(crate) fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> i32 {
        let offset_delta = self.count;
        if offset_delta == 0 {
            self.base_timestamp = timestamp_ms;
            self.max_timestamp = timestamp_ms;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        let timestamp_delta = timestamp_ms.wrapping_sub(self.base_timestamp);
        let body = record_body_size(timestamp_delta, offset_delta, key, value, headers);

        let buf = &mut self.records;
        buf.reserve(varlong_len(body as i64) + body);
        put_varlong(buf, body as i64);
        buf.push(0); // record attributes: none defined
        put_varlong(buf, timestamp_delta);
        put_varlong(buf, offset_delta.into());
        put_nullable_bytes(buf, key);
        put_nullable_bytes(buf, value);
        put_varlong(buf, headers.len() as i64);
        for h in headers {
            put_nullable_bytes(buf, Some(h.key.as_bytes()));
            put_nullable_bytes(buf, h.value.as_deref());
        }
        // Unreachable in practice: i32::MAX records take more than the 2 GiB a batch may hold,
        // which `build` rejects.
        self.count = self.count.saturating_add(1);
        offset_delta
    }

    /// The codec `build` compresses with.
    pub(crate) fn compression(&self) -> Compression {
        self.compression
    }

    /// The codec level `build` uses (`None`: the codec's default).
    pub(crate) fn compression_level(&self) -> Option<i32> {
        self.compression_level
    }

    /// Records appended so far.
    pub(crate) fn record_count(&self) -> i32 {
        self.count
    }

    /// Size in bytes of this batch built without compression, header included. With a codec
    /// the built batch is usually smaller, but `batch.size` is checked against this bound.
    pub(crate) fn uncompressed_size(&self) -> usize {
        self.released.unwrap_or(self.records.len())
    }

    /// Bytes this builder holds allocated, its batch header's room included: what a producer
    /// reserves for it (a batch header's worth once released).
    pub(crate) fn allocated(&self) -> usize {
        self.records.capacity().max(BATCH_HEADER_LEN)
    }

    /// Grows the allocation to at least `capacity` bytes of records (besides the header) at
    /// once: a producer reserves `buffer.memory` for a batch in steps, and allocates each step
    /// as it reserves it.
    pub(crate) fn reserve_total(&mut self, capacity: usize) {
        let additional = (BATCH_HEADER_LEN + capacity).saturating_sub(self.records.len());
        self.records.reserve_exact(additional);
    }

    /// Frees the encoded records once the caller keeps the built batch instead; `build` fails
    /// from then on. Counts and sizes stay.
    pub(crate) fn release_records(&mut self) {
        if self.released.is_none() {
            self.released = Some(self.records.len());
            self.records = Vec::new();
        }
    }

    /// [`build`](Self::build) then [`release_records`](Self::release_records) in one, and
    /// without a copy when uncompressed: the header is written into the room kept for it and
    /// the records become the batch. Returns the batch and the bytes it holds allocated (its
    /// length, or the records' allocation when it was kept).
    pub(crate) fn take_built(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        is_transactional: bool,
    ) -> Result<(Vec<u8>, usize)> {
        // Spare room past this much is worth a copy: the batch would hold it until answered.
        const KEEP_SLACK: usize = 4096;
        let in_place = self.compression == Compression::None
            && self.records.capacity() - self.records.len()
                <= KEEP_SLACK.max(self.records.len() / 4);
        if !in_place {
            let bytes =
                self.build_vec(producer_id, producer_epoch, base_sequence, is_transactional)?;
            self.release_records();
            let held = bytes.len();
            return Ok((bytes, held));
        }
        self.check_buildable()?;
        let mut out = std::mem::take(&mut self.records);
        self.released = Some(out.len());
        out[..BATCH_HEADER_LEN].copy_from_slice(&self.header(
            producer_id,
            producer_epoch,
            base_sequence,
            is_transactional,
        ));
        seal(&mut out)?;
        let held = out.capacity();
        Ok((out, held))
    }

    fn check_buildable(&self) -> Result<()> {
        if self.count == 0 {
            return Err(Error::InvalidArgument(
                "a record batch needs at least one record".into(),
            ));
        }
        if self.released.is_some() {
            return Err(Error::InvalidArgument(
                "the batch's records were released after it was built".into(),
            ));
        }
        Ok(())
    }

    /// The batch header, length and CRC zero ([`seal`] fills them).
    /// The batch header (CRC and length left for [`seal`]), on the stack: built once per batch,
    /// and at 10,000 partitions a batch holds one or two records.
    fn header(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        is_transactional: bool,
    ) -> [u8; BATCH_HEADER_LEN] {
        let mut attributes = self.compression.attribute_bits();
        if is_transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        let mut header = [0u8; BATCH_HEADER_LEN];
        let mut at = 0;
        let mut put = |field: &[u8]| {
            header[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        };
        put(&0i64.to_be_bytes()); // base offset
        put(&0i32.to_be_bytes()); // batch length, filled by seal
        put(&(-1i32).to_be_bytes()); // partition leader epoch
        put(&MAGIC.to_be_bytes());
        put(&0u32.to_be_bytes()); // CRC, filled by seal
        put(&attributes.to_be_bytes());
        put(&(self.count - 1).to_be_bytes()); // last offset delta
        put(&self.base_timestamp.to_be_bytes());
        put(&self.max_timestamp.to_be_bytes());
        put(&producer_id.to_be_bytes());
        put(&producer_epoch.to_be_bytes());
        put(&base_sequence.to_be_bytes());
        put(&self.count.to_be_bytes());
        debug_assert_eq!(at, BATCH_HEADER_LEN);
        header
    }

    /// The exact encoded size of the record [`append`](Self::append) would add next (tests
    /// check the producer's estimate against it).
    #[cfg(test)]
    pub(crate) fn next_record_size(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let timestamp_delta = if self.count == 0 {
            0
        } else {
            timestamp_ms.wrapping_sub(self.base_timestamp)
        };
        Self::estimate_record_size(timestamp_delta, self.count, key, value, headers)
    }

    /// The exact encoded size of one record, length prefix included. Does no allocation: it
    /// only adds up lengths, so it is cheap enough to call before every append.
    pub(crate) fn estimate_record_size(
        timestamp_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let body = record_body_size(timestamp_delta, offset_delta, key, value, headers);
        varlong_len(body as i64) + body
    }

    /// Encodes the full wire batch: base offset 0 (the broker assigns offsets), partition
    /// leader epoch -1, CreateTime timestamps, the records section compressed with the
    /// builder's codec, and the CRC filled in.
    pub(crate) fn build(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        is_transactional: bool,
    ) -> Result<Bytes> {
        self.build_vec(producer_id, producer_epoch, base_sequence, is_transactional)
            .map(Bytes::from)
    }

    fn build_vec(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        is_transactional: bool,
    ) -> Result<Vec<u8>> {
        self.check_buildable()?;
        let body = &self.records[BATCH_HEADER_LEN..];
        let expected = match self.compression {
            Compression::None => body.len(),
            _ => body.len() / 2,
        };
        let mut out = Vec::with_capacity(BATCH_HEADER_LEN + expected);
        out.extend_from_slice(&self.header(
            producer_id,
            producer_epoch,
            base_sequence,
            is_transactional,
        ));

        compression::compress(self.compression, self.compression_level, body, &mut out)?;
        seal(&mut out)?;
        if self.compression != Compression::None {
            // The guess above may have doubled on growth, and `Bytes` keeps a `Vec`'s spare
            // capacity: a producer counts what the batch holds, so hold only the batch.
            out.shrink_to_fit();
        }
        Ok(out)
    }
}

/// Fills in a built batch's length and CRC.
fn seal(out: &mut [u8]) -> Result<()> {
    let length = i32::try_from(out.len() - LOG_OVERHEAD).map_err(|_| {
        Error::InvalidArgument(format!(
            "record batch of {} bytes exceeds the protocol's 2 GiB limit",
            out.len()
        ))
    })?;
    out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Rewrites `batch` (one batch as `build` made it) in place for another producer id, epoch and
/// base sequence: only the header and the CRC change, so nothing is recompressed.
///
/// Errors: [`Error::InvalidArgument`] when `batch` is shorter than a batch header.
pub(crate) fn restamp(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<()> {
    if batch.len() < BATCH_HEADER_LEN {
        return Err(Error::InvalidArgument(format!(
            "a record batch of {} bytes has no header to restamp",
            batch.len()
        )));
    }
    batch[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn record_body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let mut n = 1 // attributes
        + varlong_len(timestamp_delta)
        + varlong_len(offset_delta.into())
        + nullable_bytes_len(key)
        + nullable_bytes_len(value)
        + varlong_len(headers.len() as i64);
    for h in headers {
        n += nullable_bytes_len(Some(h.key.as_bytes())) + nullable_bytes_len(h.value.as_deref());
    }
    n
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Encoded size of a zigzag varint. For values in `i32` range a 32-bit varint and a 64-bit
/// varlong encode identically, so one writer serves both.
fn varlong_len(v: i64) -> usize {
    let bits = 64 - (zigzag(v) | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    let mut u = zigzag(v);
    while u >= 0x80 {
        buf.push((u as u8) | 0x80);
        u >>= 7;
    }
    buf.push(u as u8);
}

fn nullable_bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varlong_len(b.len() as i64) + b.len(),
    }
}

/// Length -1 for null, else the length and the bytes. A length beyond `i32` range encodes as
/// a longer varint rather than wrapping; `build` rejects such a batch as too large anyway.
fn put_nullable_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.extend_from_slice(b);
        }
    }
}

/// A record to build a test batch from (see [`encode_test_batch`]).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestRecord {
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Test helper: one non-transactional batch holding `records` (at least one), its first
/// offset patched to `base_offset`, as a broker would return it in a fetch response.
#[cfg(test)]
pub(crate) fn encode_test_batch(
    compression: Compression,
    base_offset: i64,
    records: &[TestRecord],
) -> Bytes {
    let mut b = RecordBatchBuilder::new(compression, None, 0);
    for r in records {
        b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
    }
    let built = b.build(-1, -1, -1, false).expect("test batch builds");
    let mut out = built.to_vec();
    // The base offset is outside the CRC, so patching it needs no CRC update.
    out[..8].copy_from_slice(&base_offset.to_be_bytes());
    Bytes::from(out)
}

#[cfg(test)]
mod tests;
