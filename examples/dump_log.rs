//! `dump_log`: prints the batches (and records) of Kafka log segment files offline, like
//! `kafka-dump-log`. Corrupt or truncated parts are reported with their byte position.
//!
//! ```text
//! cargo run --example dump_log -- --files /var/lib/kafka/T-0/00000000000000000000.log [--deep-iteration] [--print-data-log]
//! ```

use std::process::ExitCode;

use bytes::Bytes;
use clap::Parser;
use ferrokafka::record::TimestampType;
use ferrokafka::tools::dump_log::{
    BatchInfo, ControlMarker, RecordInfo, SegmentEntry, read_segment,
};

#[derive(Parser)]
struct Args {
    /// Segment files (`*.log`), comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    files: Vec<String>,
    /// Print each record, not only each batch.
    #[arg(long)]
    deep_iteration: bool,
    /// Print record keys and values (implies --deep-iteration).
    #[arg(long)]
    print_data_log: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let deep = args.deep_iteration || args.print_data_log;
    let mut failed = false;
    for file in &args.files {
        println!("Dumping {file}");
        let data = match std::fs::read(file) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                eprintln!("cannot read {file}: {e}");
                failed = true;
                continue;
            }
        };
        // Kafka names a segment after its first offset.
        let start = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        println!("Log starting offset: {start}");
        for entry in read_segment(&data, deep) {
            match entry {
                SegmentEntry::Batch(b) => print_batch(&b, deep, args.print_data_log),
                SegmentEntry::Corrupt {
                    position,
                    message,
                    resumed_at,
                } => {
                    failed = true;
                    match resumed_at {
                        Some(r) => println!(
                            "Corrupt data at position {position}: {message}; resuming at position {r}"
                        ),
                        None => {
                            println!("Corrupt data at position {position}: {message}; stopping")
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn ts_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::LogAppendTime => "LogAppendTime",
        _ => "CreateTime",
    }
}

fn print_batch(b: &BatchInfo, deep: bool, data: bool) {
    println!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} \
         deleteHorizonMs: OptionalLong.empty position: {} {}: {} size: {} magic: {} \
         compresscodec: {} crc: {} isvalid: {}",
        b.base_offset,
        b.last_offset,
        b.count,
        b.base_sequence,
        b.last_sequence(),
        b.producer_id,
        b.producer_epoch,
        b.partition_leader_epoch,
        b.is_transactional,
        b.is_control,
        b.position,
        ts_name(b.timestamp_type),
        b.max_timestamp,
        b.size,
        b.magic,
        b.codec,
        b.crc,
        b.crc_valid
    );
    if !deep {
        return;
    }
    for r in &b.records {
        print_record(r, b.timestamp_type, data);
    }
    if let Some(e) = &b.records_error {
        println!(
            "Corrupt records in the batch at position {}: {e}",
            b.position
        );
    }
}

fn len(b: &Option<Bytes>) -> i64 {
    b.as_ref().map_or(-1, |b| b.len() as i64)
}

fn print_record(r: &RecordInfo, ts: TimestampType, data: bool) {
    let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
    let mut line = format!(
        "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
        r.offset,
        ts_name(ts),
        r.timestamp,
        len(&r.key),
        len(&r.value),
        r.sequence,
        keys.join(",")
    );
    match &r.control {
        Some(ControlMarker::EndTxn {
            commit,
            coordinator_epoch,
        }) => {
            let kind = if *commit { "COMMIT" } else { "ABORT" };
            let epoch = coordinator_epoch.map_or("?".to_string(), |e| e.to_string());
            line.push_str(&format!(" endTxnMarker: {kind} coordinatorEpoch: {epoch}"));
        }
        Some(ControlMarker::Other(kind)) => line.push_str(&format!(" controlType: {kind}")),
        Some(_) => {}
        None if data => {
            // Kafka's tool leaves a null key or value out rather than print "null".
            if let Some(k) = &r.key {
                line.push_str(&format!(" key: {}", String::from_utf8_lossy(k)));
            }
            if let Some(v) = &r.value {
                line.push_str(&format!(" payload: {}", String::from_utf8_lossy(v)));
            }
        }
        None => {}
    }
    println!("{line}");
}
