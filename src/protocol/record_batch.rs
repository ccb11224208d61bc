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
/// so callers that retry should keep the built `Bytes` rather than rebuild (and
/// [`restamp`] it for another sequence), and may then
/// [`release_records`](Self::release_records).
#[derive(Debug, Clone)]
pub(crate) struct RecordBatchBuilder {
    compression: Compression,
    compression_level: Option<i32>,
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
        RecordBatchBuilder {
            compression,
            compression_level,
            records: Vec::with_capacity(capacity_hint),
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
        BATCH_HEADER_LEN + self.released.unwrap_or(self.records.len())
    }

    /// Bytes this builder holds allocated, counting a batch header: what a producer reserves
    /// for it.
    pub(crate) fn allocated(&self) -> usize {
        BATCH_HEADER_LEN + self.records.capacity()
    }

    /// Frees the encoded records once the caller keeps the built batch instead; `build` fails
    /// from then on. Counts and sizes stay.
    pub(crate) fn release_records(&mut self) {
        if self.released.is_none() {
            self.released = Some(self.records.len());
            self.records = Vec::new();
        }
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
        let expected = match self.compression {
            Compression::None => self.records.len(),
            _ => self.records.len() / 2,
        };
        let mut out = Vec::with_capacity(BATCH_HEADER_LEN + expected);
        let mut attributes = self.compression.attribute_bits();
        if is_transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        out.extend_from_slice(&0i64.to_be_bytes()); // base offset
        out.extend_from_slice(&0i32.to_be_bytes()); // batch length, filled below
        out.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // CRC, filled below
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&(self.count - 1).to_be_bytes()); // last offset delta
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&producer_id.to_be_bytes());
        out.extend_from_slice(&producer_epoch.to_be_bytes());
        out.extend_from_slice(&base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        debug_assert_eq!(out.len(), BATCH_HEADER_LEN);

        compression::compress(
            self.compression,
            self.compression_level,
            &self.records,
            &mut out,
        )?;

        let length = i32::try_from(out.len() - LOG_OVERHEAD).map_err(|_| {
            Error::InvalidArgument(format!(
                "record batch of {} bytes exceeds the protocol's 2 GiB limit",
                out.len()
            ))
        })?;
        out[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        if self.compression != Compression::None {
            // The guess above may have doubled on growth, and `Bytes` keeps a `Vec`'s spare
            // capacity: a producer counts what the batch holds, so hold only the batch.
            out.shrink_to_fit();
        }
        Ok(Bytes::from(out))
    }
}

/// `batch` (one batch as `build` made it) under another producer id, epoch and base sequence:
/// only the header changes, so nothing is recompressed.
///
/// Errors: [`Error::InvalidArgument`] when `batch` is shorter than a batch header.
pub(crate) fn restamp(
    batch: &[u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<Bytes> {
    if batch.len() < BATCH_HEADER_LEN {
        return Err(Error::InvalidArgument(format!(
            "a record batch of {} bytes has no header to restamp",
            batch.len()
        )));
    }
    let mut out = batch.to_vec();
    out[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&producer_id.to_be_bytes());
    out[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&producer_epoch.to_be_bytes());
    out[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(Bytes::from(out))
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

/// One record of a fetched batch, with absolute offset and timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodedRecord {
    pub offset: i64,
    /// Milliseconds since the Unix epoch; the batch's max timestamp under LogAppendTime.
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// One fetched batch with its records decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodedBatch {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub last_offset_delta: i32,
    /// The first record's timestamp, or the delete horizon when the log cleaner set one
    /// (attribute bit 6); record timestamps are deltas from it either way.
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub compression: Compression,
    pub timestamp_type: TimestampType,
    pub is_transactional: bool,
    /// Transaction markers and the like: consumers skip these, but must still move past them.
    pub is_control: bool,
    /// May be empty (compaction can leave a batch with no records).
    pub records: Vec<DecodedRecord>,
}

impl DecodedBatch {
    /// The offset after this batch, which is where the next fetch starts even when the last
    /// records were compacted away.
    #[cfg(test)]
    pub(crate) fn next_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(self.last_offset_delta.into())
            .wrapping_add(1)
    }
}

/// The fixed header of a batch, read without touching its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the batch length field, validated to fit the header and the input.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// The whole batch's size on the wire.
    pub(crate) fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.unsigned_abs() as usize
    }

    /// The offset after this batch, which is where the next fetch starts even when the last
    /// records were compacted away.
    pub(crate) fn next_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(self.last_offset_delta.into())
            .wrapping_add(1)
    }

    /// Transaction markers and the like: consumers skip these, but must still move past them.
    pub(crate) fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    pub(crate) fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub(crate) fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::CorruptRecord(msg.into())
}

/// Reads the header of the batch at the start of `data`.
///
/// `Ok(None)` when `data` does not hold the whole batch: brokers cut fetch responses
/// mid-batch, so an incomplete last batch is expected, not corrupt.
pub(crate) fn read_batch_header(data: &[u8]) -> Result<Option<BatchHeader>> {
    let Some(prefix) = data.first_chunk::<LOG_OVERHEAD>() else {
        return Ok(None);
    };
    let batch_length = i32_at(prefix, LENGTH_AT);
    let length = usize::try_from(batch_length)
        .map_err(|_| corrupt(format!("negative record batch length {batch_length}")))?;
    if data.len() - LOG_OVERHEAD < length {
        return Ok(None);
    }
    if LOG_OVERHEAD + length <= MAGIC_AT {
        return Err(corrupt(format!(
            "record batch length {batch_length} is too short to hold a magic byte"
        )));
    }
    let magic = data[MAGIC_AT] as i8;
    if magic != MAGIC {
        return Err(corrupt(format!(
            "record batch has magic {magic}; only magic 2 (Kafka 0.11+ record batches) is supported"
        )));
    }
    let Some(h) = data
        .first_chunk::<BATCH_HEADER_LEN>()
        .filter(|_| LOG_OVERHEAD + length >= BATCH_HEADER_LEN)
    else {
        return Err(corrupt(format!(
            "record batch length {batch_length} is shorter than the batch header"
        )));
    };
    Ok(Some(BatchHeader {
        base_offset: i64_at(h, 0),
        batch_length,
        partition_leader_epoch: i32_at(h, LEADER_EPOCH_AT),
        crc: i32_at(h, CRC_AT) as u32,
        attributes: i16::from_be_bytes([h[ATTRIBUTES_AT], h[ATTRIBUTES_AT + 1]]),
        last_offset_delta: i32_at(h, LAST_OFFSET_DELTA_AT),
        base_timestamp: i64_at(h, BASE_TIMESTAMP_AT),
        max_timestamp: i64_at(h, MAX_TIMESTAMP_AT),
        producer_id: i64_at(h, PRODUCER_ID_AT),
        producer_epoch: i16::from_be_bytes([h[PRODUCER_EPOCH_AT], h[PRODUCER_EPOCH_AT + 1]]),
        base_sequence: i32_at(h, BASE_SEQUENCE_AT),
        record_count: i32_at(h, RECORD_COUNT_AT),
    }))
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Decodes every complete batch in a fetch response's records blob, in order, each into at most
/// [`MAX_DECOMPRESSED_SIZE`](compression::MAX_DECOMPRESSED_SIZE) bytes: for data the client
/// wrote itself (the consumer reads a batch at a time, within its own bounds: `consumer/decode.rs`).
///
/// An incomplete last batch is dropped (see [`read_batch_header`]). Uncompressed records
/// borrow from `data`; compressed ones from their decompressed section.
pub(crate) fn decode_batches(data: Bytes, check_crcs: bool) -> Result<Vec<DecodedBatch>> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while let Some(header) = read_batch_header(&data[pos..])? {
        if check_crcs {
            check_crc(&data, pos, &header)?;
        }
        let mut batch = BatchRecords::open(&data, pos, header, compression::MAX_DECOMPRESSED_SIZE)?;
        // Never trust the count for an allocation: bound it by what the bytes can hold.
        let mut records = Vec::with_capacity(batch.left.min(batch.section.len() / MIN_RECORD_LEN));
        while let Some(r) = batch.next_record()? {
            records.push(r);
        }
        let h = &batch.header;
        batches.push(DecodedBatch {
            base_offset: h.base_offset,
            partition_leader_epoch: h.partition_leader_epoch,
            last_offset_delta: h.last_offset_delta,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            compression: batch.compression,
            timestamp_type: h.timestamp_type(),
            is_transactional: h.is_transactional(),
            is_control: h.is_control(),
            records,
        });
        pos += header.total_size();
    }
    Ok(batches)
}

/// Checks the CRC of the batch at `data[start..]`, whose header is `h`.
pub(crate) fn check_crc(data: &[u8], start: usize, h: &BatchHeader) -> Result<()> {
    let computed = crc32c::crc32c(&data[start + ATTRIBUTES_AT..start + h.total_size()]);
    if computed != h.crc {
        return Err(corrupt(format!(
            "record batch at offset {} failed its CRC check (stored {:#010x}, computed {computed:#010x})",
            h.base_offset, h.crc
        )));
    }
    Ok(())
}

/// The records of one batch, decoded one at a time from its (decompressed) records section:
/// a reader holds one record's worth of decoded data beyond the section, whatever the count.
#[derive(Debug)]
pub(crate) struct BatchRecords {
    header: BatchHeader,
    compression: Compression,
    section: Bytes,
    pos: usize,
    /// Records the header declares that are not read yet.
    left: usize,
    /// Bytes decompressed for the section (0 when it is a slice of the fetched data).
    decompressed: usize,
    /// Most bytes the section may decompress to, and one record's headers take decoded.
    limit: usize,
}

impl BatchRecords {
    /// Opens the batch at `data[start..]`, whose header is `h` (CRC already checked, if at
    /// all), decompressing its records section into at most `limit` bytes.
    ///
    /// Errors: [`Error::BatchTooLarge`] (with an empty partition, for the caller to fill in)
    /// when the section decompresses to more than `limit`; [`Error::CorruptRecord`] or
    /// [`Error::Compression`] for a malformed batch.
    pub(crate) fn open(
        data: &Bytes,
        start: usize,
        h: BatchHeader,
        limit: usize,
    ) -> Result<BatchRecords> {
        let base = h.base_offset;
        let compression = Compression::from_attributes(h.attributes)?;
        let left = usize::try_from(h.record_count).map_err(|_| {
            corrupt(format!(
                "record batch at offset {base} has negative record count {}",
                h.record_count
            ))
        })?;
        let section = data.slice(start + BATCH_HEADER_LEN..start + h.total_size());
        let (section, decompressed) = match compression {
            Compression::None => (section, 0),
            codec => match compression::decompress(codec, &section, limit)? {
                Some(v) => {
                    let n = v.len();
                    (Bytes::from(v), n)
                }
                None => return Err(too_large(&h, codec, limit)),
            },
        };
        Ok(BatchRecords {
            header: h,
            compression,
            section,
            pos: 0,
            left,
            decompressed,
            limit,
        })
    }

    pub(crate) fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Bytes allocated for the decompressed records section; 0 for an uncompressed batch,
    /// whose records are slices of the fetched data.
    pub(crate) fn decompressed_len(&self) -> usize {
        self.decompressed
    }

    /// The next record, `Ok(None)` after the last one the header declares.
    ///
    /// Errors: [`Error::CorruptRecord`] for a malformed record, or bytes left after the last;
    /// [`Error::BatchTooLarge`] (partition empty) for a record with more headers than the
    /// limit holds decoded.
    pub(crate) fn next_record(&mut self) -> Result<Option<DecodedRecord>> {
        let base = self.header.base_offset;
        let mut reader = Reader {
            data: &self.section,
            pos: self.pos,
            end: self.section.len(),
        };
        if self.left == 0 {
            if reader.remaining() != 0 {
                return Err(corrupt(format!(
                    "record batch at offset {base} declares {} records but {} bytes follow them",
                    self.header.record_count,
                    reader.remaining()
                )));
            }
            return Ok(None);
        }
        let record = decode_record(&mut reader, &self.header, self.limit).map_err(|e| match e {
            RecordError::Corrupt(e) => corrupt(format!("record batch at offset {base}: {e}")),
            RecordError::TooManyHeaders => too_large(&self.header, self.compression, self.limit),
        })?;
        self.pos = reader.pos;
        self.left -= 1;
        Ok(Some(record))
    }
}

fn too_large(h: &BatchHeader, codec: Compression, limit: usize) -> Error {
    Error::BatchTooLarge {
        partition: String::new(),
        offset: h.base_offset,
        next_offset: h.next_offset(),
        codec: codec.name(),
        limit,
    }
}

/// A bounds-checked cursor over `data[..end]` that slices values out without copying.
struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
    end: usize,
}

/// Record-level failures; `BatchRecords::next_record` adds the batch context.
type RecordResult<T> = std::result::Result<T, String>;

enum RecordError {
    Corrupt(String),
    /// Headers that take more than the batch's limit decoded (`Header`s and their keys).
    TooManyHeaders,
}

impl From<String> for RecordError {
    fn from(e: String) -> Self {
        RecordError::Corrupt(e)
    }
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn u8(&mut self) -> RecordResult<u8> {
        if self.pos == self.end {
            return Err("record data ends early".into());
        }
        let b = self.data[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn unsigned_varint(&mut self, max_bytes: u32) -> RecordResult<u64> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("varint longer than {max_bytes} bytes"))
    }

    fn varlong(&mut self) -> RecordResult<i64> {
        let u = self.unsigned_varint(10)?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    fn varint(&mut self) -> RecordResult<i32> {
        let u = self.unsigned_varint(5)?;
        let u = u32::try_from(u).map_err(|_| format!("varint {u} overflows 32 bits"))?;
        Ok((u >> 1) as i32 ^ -((u & 1) as i32))
    }

    fn bytes(&mut self, len: usize, what: &str) -> RecordResult<Bytes> {
        if len > self.remaining() {
            return Err(format!(
                "{what} length {len} exceeds the {} bytes left",
                self.remaining()
            ));
        }
        let b = self.data.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(b)
    }

    fn nullable_bytes(&mut self, what: &str) -> RecordResult<Option<Bytes>> {
        match self.varint()? {
            -1 => Ok(None),
            len => {
                let len =
                    usize::try_from(len).map_err(|_| format!("negative {what} length {len}"))?;
                self.bytes(len, what).map(Some)
            }
        }
    }
}

fn decode_record(
    batch: &mut Reader<'_>,
    h: &BatchHeader,
    header_limit: usize,
) -> std::result::Result<DecodedRecord, RecordError> {
    let len = batch.varint()?;
    let len = usize::try_from(len).map_err(|_| format!("negative record length {len}"))?;
    if len > batch.remaining() {
        return Err(format!(
            "record length {len} exceeds the {} bytes left",
            batch.remaining()
        )
        .into());
    }
    let mut r = Reader {
        data: batch.data,
        pos: batch.pos,
        end: batch.pos + len,
    };
    batch.pos = r.end;

    let _attributes = r.u8()?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = r.nullable_bytes("key")?;
    let value = r.nullable_bytes("value")?;
    let header_count = r.varint()?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| format!("negative header count {header_count}"))?;
    // Each header takes far more decoded than its two bytes on the wire: bound what the
    // headers of one record take in memory, counted before the vector is sized.
    const HEADER_SIZE: usize = std::mem::size_of::<Header>();
    if header_count > header_limit / HEADER_SIZE {
        return Err(RecordError::TooManyHeaders);
    }
    let mut decoded = header_count * HEADER_SIZE;
    let mut headers = Vec::with_capacity(header_count.min(r.remaining() / MIN_HEADER_LEN));
    for _ in 0..header_count {
        let key_len = r.varint()?;
        let key_len = usize::try_from(key_len)
            .map_err(|_| format!("header key length {key_len} (header keys cannot be null)"))?;
        decoded += key_len;
        if decoded > header_limit {
            return Err(RecordError::TooManyHeaders);
        }
        let key = r.bytes(key_len, "header key")?;
        let key = std::str::from_utf8(&key)
            .map_err(|_| "header key is not valid UTF-8".to_string())?
            .to_owned();
        let value = r.nullable_bytes("header value")?;
        headers.push(Header { key, value });
    }
    if r.remaining() != 0 {
        return Err(format!("record of length {len} has {} unread bytes", r.remaining()).into());
    }
    let timestamp = match h.timestamp_type() {
        TimestampType::LogAppendTime => h.max_timestamp,
        TimestampType::CreateTime => h.base_timestamp.wrapping_add(timestamp_delta),
    };
    Ok(DecodedRecord {
        offset: h.base_offset.wrapping_add(offset_delta.into()),
        timestamp,
        key,
        value,
        headers,
    })
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
