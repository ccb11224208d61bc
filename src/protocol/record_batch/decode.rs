//! Reading fetched record batches: headers, CRCs, and records decoded one at a time from a
//! bounded decompressed section.

use bytes::Bytes;

use super::*;

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
#[inline]
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

/// Whether the batch at the start of `data` says its records are compressed, from its
/// attributes alone (no other field is read or checked): `false` when `data` is too short to
/// hold them. What a step decodes next is decided by this before the batch is read.
#[inline]
pub(crate) fn codec_bits_set(data: &[u8]) -> bool {
    data.get(ATTRIBUTES_AT..ATTRIBUTES_AT + 2)
        .is_some_and(|a| i16::from_be_bytes([a[0], a[1]]) & CODEC_BITS != 0)
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
#[inline]
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
    #[inline]
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

    // Six per record. Read from one bounds-checked slice, not a checked `u8()` and a
    // `Result` per byte, and inline: out of line and byte by byte it was 266 instructions per
    // 100-byte record (callgrind), a fifth of the consumer's.
    #[inline(always)]
    fn unsigned_varint(&mut self, max_bytes: u32) -> RecordResult<u64> {
        let rest = &self.data[self.pos..self.end];
        // Counts, deltas, attributes and short lengths: one byte.
        if let Some(&b) = rest.first()
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(max_bytes as usize).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(if rest.len() < max_bytes as usize {
            "record data ends early".to_string()
        } else {
            format!("varint longer than {max_bytes} bytes")
        })
    }

    #[inline(always)]
    fn varlong(&mut self) -> RecordResult<i64> {
        let u = self.unsigned_varint(10)?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    #[inline(always)]
    fn varint(&mut self) -> RecordResult<i32> {
        let u = self.unsigned_varint(5)?;
        let u = u32::try_from(u).map_err(|_| format!("varint {u} overflows 32 bits"))?;
        Ok((u >> 1) as i32 ^ -((u & 1) as i32))
    }

    // Once per key and value. Out of line, each paid a call and a copy of its result back
    // (32 instructions per record, callgrind); plain #[inline] left it so after unrelated
    // changes moved the crate's split into codegen units.
    #[inline(always)]
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
    // Most records have no headers: `with_capacity(0)` was still an out-of-line call per record.
    let mut headers = if header_count == 0 {
        Vec::new()
    } else {
        Vec::with_capacity(header_count.min(r.remaining() / MIN_HEADER_LEN))
    };
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

#[cfg(test)]
mod reader_tests {
    use super::*;

    /// A value and the reader's position after it, or the error.
    type Read = Result<(u64, usize), String>;

    /// Reads one unsigned varint of at most `max` bytes from `data[start..end]`.
    fn read(data: &[u8], start: usize, end: usize, max: u32) -> Read {
        let data = Bytes::copy_from_slice(data);
        let mut r = Reader {
            data: &data,
            pos: start,
            end,
        };
        r.unsigned_varint(max).map(|v| (v, r.pos))
    }

    #[test]
    fn unsigned_varints_read_to_their_last_byte_and_no_further() {
        let ends_early = Err("record data ends early".to_string());
        let cases: &[(&[u8], usize, usize, u32, Read)] = &[
            (&[0x00], 0, 1, 5, Ok((0, 1))),
            (&[0x7f, 0x01], 0, 2, 5, Ok((127, 1))),
            (&[0xc8, 0x01], 0, 2, 5, Ok((200, 2))),
            (&[0x05, 0xc8, 0x01, 0x09], 1, 4, 5, Ok((200, 3))),
            (
                &[0xff, 0xff, 0xff, 0xff, 0x0f],
                0,
                5,
                5,
                Ok((u64::from(u32::MAX), 5)),
            ),
            (
                &[0x80; 10],
                0,
                10,
                5,
                Err("varint longer than 5 bytes".to_string()),
            ),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                0,
                10,
                10,
                Ok((u64::MAX, 10)),
            ),
            (&[0x80, 0x80], 0, 2, 5, ends_early.clone()),
            // The end bound, not the buffer's length, ends the data.
            (&[0x80, 0x01], 0, 1, 5, ends_early.clone()),
            (&[0x01], 1, 1, 5, ends_early),
        ];
        for (data, start, end, max, want) in cases {
            assert_eq!(
                &read(data, *start, *end, *max),
                want,
                "{data:02x?}[{start}..{end}] max {max}"
            );
        }
    }
}
