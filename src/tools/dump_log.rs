//! Reading a Kafka log segment file (`*.log`) offline, batch by batch, as `kafka-dump-log` does.
//!
//! A segment is record batches back to back, each in the wire format of a fetch response. A
//! corrupt batch is reported with its byte position and the walk goes on where the bytes allow
//! it: a bad CRC or a malformed records section only spoils that batch (its length still says
//! where the next one starts); a length that cannot be right (negative, shorter than a batch
//! header, past the end of the file) makes [`read_segment`] look ahead for the next batch whose
//! CRC checks out, and stop when there is none.

use bytes::Bytes;

use crate::protocol::compression::{self, Compression};
use crate::protocol::record_batch::{self, BATCH_HEADER_LEN, BatchHeader, BatchRecords};
use crate::record::{Header, TimestampType};

/// baseOffset and batchLength: the bytes a batch's length field does not count.
const LOG_OVERHEAD: usize = 12;
/// Where the magic byte sits in a batch.
const MAGIC_AT: usize = 16;

/// What [`read_segment`] found at one position of the segment, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentEntry {
    /// A batch whose length field was sane (its CRC may still be bad: see [`BatchInfo::crc_valid`]).
    Batch(BatchInfo),
    /// Bytes at `position` that are no batch.
    Corrupt {
        /// Byte position of the bad data in the segment.
        position: u64,
        /// What is wrong, in words.
        message: String,
        /// Byte position of the next good batch the walk resumed at; `None` when it stopped there.
        resumed_at: Option<u64>,
    },
}

/// One batch's header fields, and with deep iteration its records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchInfo {
    /// Byte position of the batch in the segment.
    pub position: u64,
    /// Size of the whole batch in bytes, length prefix included.
    pub size: usize,
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record (base offset plus the last offset delta).
    pub last_offset: i64,
    /// Records the header declares.
    pub count: i32,
    /// Leader epoch of the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// The batch's format version; always 2 for a batch that decoded.
    pub magic: i8,
    /// -1 for batches of producers without idempotence.
    pub producer_id: i64,
    /// -1 for batches of producers without idempotence.
    pub producer_epoch: i16,
    /// -1 for batches of producers without idempotence.
    pub base_sequence: i32,
    /// Written inside a transaction.
    pub is_transactional: bool,
    /// A control batch (transaction markers).
    pub is_control: bool,
    /// Codec name as Kafka prints it (`none`, `gzip`, `snappy`, `lz4`, `zstd`), or
    /// `unknown(N)` for an unassigned codec id.
    pub codec: String,
    /// Whether timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).
    pub timestamp_type: TimestampType,
    /// Milliseconds since the Unix epoch.
    pub max_timestamp: i64,
    /// The stored CRC-32C.
    pub crc: u32,
    /// Whether the stored CRC matches the batch's bytes.
    pub crc_valid: bool,
    /// The records with deep iteration (empty without); an error decoding them ends the list
    /// and is kept in [`records_error`](Self::records_error).
    pub records: Vec<RecordInfo>,
    /// Why the records section could not be read to the end, when it could not.
    pub records_error: Option<String>,
}

impl BatchInfo {
    /// The batch's last sequence number as Kafka computes it: -1 without a base sequence,
    /// wrapping past `i32::MAX` to 0.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let delta = (self.last_offset - self.base_offset) as i32;
        let last = i64::from(self.base_sequence) + i64::from(delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// One record of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordInfo {
    /// The record's offset.
    pub offset: i64,
    /// Milliseconds since the Unix epoch (the batch's max timestamp under LogAppendTime).
    pub timestamp: i64,
    /// `None` for a null key.
    pub key: Option<Bytes>,
    /// `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// In record order.
    pub headers: Vec<Header>,
    /// The base sequence plus the record's offset delta, or -1 without a base sequence.
    pub sequence: i32,
    /// The transaction marker a control record carries.
    pub control: Option<ControlMarker>,
}

/// A control record's marker (control batches only).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlMarker {
    /// End of a transaction: `commit` or abort, and the coordinator epoch that wrote it
    /// (`None` when the value is too short to hold one).
    EndTxn {
        /// Commit, else abort.
        commit: bool,
        /// Epoch of the transaction coordinator that wrote the marker.
        coordinator_epoch: Option<i32>,
    },
    /// Any other control record type (for instance KRaft metadata records).
    Other(i16),
}

/// Walks the segment `data` batch by batch. With `deep`, each batch's records are decoded too,
/// each records section decompressing to at most 1 GiB (compression bombs are reported as a
/// [`BatchInfo::records_error`], not followed).
///
/// Never fails: what cannot be read is a [`SegmentEntry::Corrupt`] at its byte position.
pub fn read_segment(data: &Bytes, deep: bool) -> Vec<SegmentEntry> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        match batch_at(data, pos) {
            Ok(h) => {
                entries.push(SegmentEntry::Batch(batch_info(data, pos, &h, deep)));
                pos += h.total_size();
            }
            Err(message) => {
                let resumed_at = resync(data, pos + 1);
                entries.push(SegmentEntry::Corrupt {
                    position: pos as u64,
                    message,
                    resumed_at: resumed_at.map(|p| p as u64),
                });
                match resumed_at {
                    Some(p) => pos = p,
                    None => break,
                }
            }
        }
    }
    entries
}

/// The header of the batch at `data[pos..]`, when its length field is sane.
fn batch_at(data: &Bytes, pos: usize) -> Result<BatchHeader, String> {
    let rest = &data[pos..];
    if rest.len() < LOG_OVERHEAD {
        return Err(format!(
            "truncated: {} bytes left, fewer than a batch's offset and length fields",
            rest.len()
        ));
    }
    match record_batch::read_batch_header(rest) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => {
            let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
            Err(format!(
                "truncated: batch length {length} but only {} bytes follow the length field",
                rest.len() - LOG_OVERHEAD
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The first position from `from` on where a batch with a sane length and a matching CRC starts.
fn resync(data: &Bytes, from: usize) -> Option<usize> {
    (from..data.len().saturating_sub(BATCH_HEADER_LEN - 1)).find(|&p| {
        data[p + MAGIC_AT] == 2
            && batch_at(data, p)
                .ok()
                .is_some_and(|h| record_batch::check_crc(data, p, &h).is_ok())
    })
}

fn batch_info(data: &Bytes, pos: usize, h: &BatchHeader, deep: bool) -> BatchInfo {
    let codec = match Compression::from_attributes(h.attributes) {
        Ok(c) => c.name().to_string(),
        Err(_) => format!("unknown({})", h.attributes & 0x07),
    };
    let mut info = BatchInfo {
        position: pos as u64,
        size: h.total_size(),
        base_offset: h.base_offset,
        last_offset: h.next_offset().wrapping_sub(1),
        count: h.record_count,
        partition_leader_epoch: h.partition_leader_epoch,
        magic: data[pos + MAGIC_AT] as i8,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        is_transactional: h.is_transactional(),
        is_control: h.is_control(),
        codec,
        timestamp_type: h.timestamp_type(),
        max_timestamp: h.max_timestamp,
        crc: h.crc,
        crc_valid: record_batch::check_crc(data, pos, h).is_ok(),
        records: Vec::new(),
        records_error: None,
    };
    if deep && let Err(e) = read_records(data, pos, h, &mut info.records) {
        info.records_error = Some(e.to_string());
    }
    info
}

fn read_records(
    data: &Bytes,
    pos: usize,
    h: &BatchHeader,
    out: &mut Vec<RecordInfo>,
) -> crate::error::Result<()> {
    let mut batch = BatchRecords::open(data, pos, *h, compression::MAX_DECOMPRESSED_SIZE)?;
    while let Some(r) = batch.next_record()? {
        let sequence = if h.base_sequence < 0 {
            -1
        } else {
            h.base_sequence
                .wrapping_add(r.offset.wrapping_sub(h.base_offset) as i32)
        };
        let control = h
            .is_control()
            .then(|| control_marker(r.key.as_deref(), r.value.as_deref()))
            .flatten();
        out.push(RecordInfo {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
            sequence,
            control,
        });
    }
    Ok(())
}

/// Reads a control record: key version and type (0 abort, 1 commit); an end-transaction
/// marker's value holds its version and the coordinator epoch.
fn control_marker(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<ControlMarker> {
    let key = key?;
    let kind = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
    if kind != 0 && kind != 1 {
        return Some(ControlMarker::Other(kind));
    }
    let coordinator_epoch = value
        .and_then(|v| v.get(2..6))
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    Some(ControlMarker::EndTxn {
        commit: kind == 1,
        coordinator_epoch,
    })
}

#[cfg(test)]
#[path = "dump_log_tests.rs"]
mod tests;
