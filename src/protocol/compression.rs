//! The compression codecs of a record batch's records section.
//!
//! Only the records section of a batch is compressed; the 61-byte batch header never is. Codec
//! ids are attribute bits 0-2 of the batch (protocol guide, "Record Batch").

use std::fmt;
use std::io::{Read, Write};

use crate::error::{Error, Result};

pub use crate::types::Compression;

impl Compression {
    /// The codec id stored in attribute bits 0-2 of a record batch.
    pub(crate) fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Reads the codec from a batch's attributes; ids 5 to 7 are unassigned.
    pub(crate) fn from_attributes(attr: i16) -> Result<Compression> {
        match attr & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            id => Err(Error::CorruptRecord(format!(
                "unknown compression codec id {id} in batch attributes"
            ))),
        }
    }
}

/// Most bytes one records section may decompress to anywhere. The consumer's own bound is lower
/// (see `consumer/decode.rs`); this one serves decoders of data the client wrote itself.
pub(crate) const MAX_DECOMPRESSED_SIZE: usize = 1 << 30;

/// Largest zstd window a frame may ask for (zstd's default limit, 128 MiB, named here because
/// the decoder allocates it whatever the output size: Java producers at levels 20 to 22 write
/// frames with windows this large).
#[cfg(feature = "zstd")]
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Bounds of the first output buffer of a streaming decoder, sized from the input: small
/// sections get one allocation, large ones start small and double.
const FIRST_OUTPUT_MIN: usize = 4 * 1024;
const FIRST_OUTPUT_MAX: usize = 1 << 20;

const GZIP_DEFAULT_LEVEL: i32 = 6;
#[cfg(feature = "zstd")]
const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// The xerial snappy stream header: magic, then big-endian version 1 and compatible version 1.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block, the size the Java client writes.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Bound on a raw snappy block's output/input ratio (the format's true bound is 64/3).
const SNAPPY_MAX_EXPANSION: usize = 32;

fn codec_error(codec: Compression, reason: impl fmt::Display) -> Error {
    Error::Compression {
        codec: codec.name(),
        reason: reason.to_string(),
    }
}

/// Compresses `input` with `codec`, appending to `out` (so a batch header already in `out`
/// needs no copy). `level` is the codec's level; `None` (or -1) picks the codec default.
pub(crate) fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let level = level.filter(|&l| l != -1);
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => {
            let level = level.unwrap_or(GZIP_DEFAULT_LEVEL);
            let level = u32::try_from(level)
                .ok()
                .filter(|l| (1..=9).contains(l))
                .ok_or_else(|| codec_error(codec, format!("level {level} is not in 1..=9")))?;
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            enc.write_all(input).map_err(|e| codec_error(codec, e))?;
            enc.finish().map_err(|e| codec_error(codec, e))?;
            Ok(())
        }
        Compression::Snappy => snappy_compress_xerial(input, out),
        Compression::Lz4 => {
            // Kafka's reader accepts 64 KiB to 4 MiB blocks; lz4_flex's "auto" may pick 8 MiB.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            enc.write_all(input).map_err(|e| codec_error(codec, e))?;
            enc.finish().map_err(|e| codec_error(codec, e))?;
            Ok(())
        }
        Compression::Zstd => zstd_compress(level, input, out),
    }
}

/// Decompresses a records section into at most `limit` bytes. Never panics on garbage.
///
/// `Ok(None)` when the output would exceed `limit`: decoding stops there, and the output buffer
/// never grows past `limit + 1` bytes whatever the input claims (a decompression bomb costs
/// at most that, plus the codec's own state: up to 128 MiB of window for zstd).
pub(crate) fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
) -> Result<Option<Vec<u8>>> {
    match codec {
        Compression::None => Ok((input.len() <= limit).then(|| input.to_vec())),
        // Multi-member, as a concatenation of gzip streams is still one valid gzip input.
        Compression::Gzip => read_capped(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Snappy => snappy_decompress(input, limit),
        Compression::Lz4 => read_capped(
            codec,
            lz4_flex::frame::FrameDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Zstd => zstd_decompress(input, limit),
    }
}

/// Reads `reader` to its end into a buffer that doubles but never grows past `limit + 1`
/// bytes (the extra byte tells "exactly `limit`" from "more"); `Ok(None)` past `limit`.
fn read_capped(
    codec: Compression,
    mut reader: impl Read,
    input_len: usize,
    limit: usize,
) -> Result<Option<Vec<u8>>> {
    let cap = limit.saturating_add(1);
    let first = input_len
        .saturating_mul(4)
        .clamp(FIRST_OUTPUT_MIN, FIRST_OUTPUT_MAX);
    let mut out = Vec::new();
    let mut filled = 0;
    while filled < cap {
        if filled == out.len() {
            let len = out.len().saturating_mul(2).max(first).min(cap);
            grow_zeroed(&mut out, len, cap);
        }
        match reader.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(codec_error(codec, e)),
        }
    }
    if filled > limit {
        return Ok(None);
    }
    out.truncate(filled);
    Ok(Some(out))
}

/// Zero-extends `out` to `len` bytes, at least doubling its capacity when it must grow (so
/// many small extensions stay linear) but never reserving past `cap`. (`Vec`'s own growth
/// may double past any limit, and reading into uninitialised memory would need `unsafe`.)
fn grow_zeroed(out: &mut Vec<u8>, len: usize, cap: usize) {
    if len > out.capacity() {
        let target = out.capacity().saturating_mul(2).clamp(len, cap.max(len));
        out.reserve_exact(target - out.len());
    }
    out.resize(len, 0);
}

fn snappy_compress_xerial(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        // Compress straight into `out` behind a length placeholder, then trim.
        let len_at = out.len();
        let max = snap::raw::max_compress_len(chunk.len());
        out.resize(len_at + 4 + max, 0);
        let n = enc
            .compress(chunk, &mut out[len_at + 4..])
            .map_err(|e| codec_error(Compression::Snappy, e))?;
        out.truncate(len_at + 4 + n);
        // A block is at most max_compress_len(32 KiB) bytes, far below i32::MAX.
        let n = i32::try_from(n).map_err(|e| codec_error(Compression::Snappy, e))?;
        out[len_at..len_at + 4].copy_from_slice(&n.to_be_bytes());
    }
    Ok(())
}

/// Reads xerial-framed snappy (what Java producers write) or a bare raw snappy block, into at
/// most `limit` bytes (`Ok(None)` past it).
fn snappy_decompress(input: &[u8], limit: usize) -> Result<Option<Vec<u8>>> {
    let codec = Compression::Snappy;
    let mut out = Vec::new();
    let Some(mut rest) = input.strip_prefix(&XERIAL_MAGIC[..]) else {
        return Ok(snappy_raw_block(input, &mut out, limit)?.then_some(out));
    };
    // Version and compatible version: both 1 in every known writer; not worth rejecting others.
    rest = rest
        .get(XERIAL_HEADER_LEN - XERIAL_MAGIC.len()..)
        .ok_or_else(|| codec_error(codec, "truncated xerial header"))?;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| codec_error(codec, "truncated xerial block length"))?;
        let len = i32::from_be_bytes(*len);
        let block = usize::try_from(len)
            .ok()
            .and_then(|len| tail.get(..len))
            .ok_or_else(|| {
                codec_error(
                    codec,
                    format!(
                        "xerial block length {len} exceeds the {} bytes left",
                        tail.len()
                    ),
                )
            })?;
        if !snappy_raw_block(block, &mut out, limit)? {
            return Ok(None);
        }
        rest = &tail[block.len()..];
    }
    Ok(Some(out))
}

/// Decodes one raw snappy block onto the end of `out`, checking its declared size first.
/// `Ok(false)` (nothing decoded) when `out` would exceed `limit` bytes.
fn snappy_raw_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<bool> {
    let codec = Compression::Snappy;
    let n = snap::raw::decompress_len(block).map_err(|e| codec_error(codec, e))?;
    if n > limit.saturating_sub(out.len()) {
        return Ok(false);
    }
    // A snappy copy element needs at least 3 input bytes per 64 output bytes, so a block can
    // never expand more than ~22x; a larger claim is corrupt, and must not size an allocation.
    if n > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(codec_error(
            codec,
            format!(
                "block of {} bytes claims {n} uncompressed bytes",
                block.len()
            ),
        ));
    }
    let start = out.len();
    grow_zeroed(out, start + n, limit);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| codec_error(codec, e))?;
    out.truncate(start + written);
    Ok(true)
}

#[cfg(feature = "zstd")]
fn zstd_compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    zstd::stream::copy_encode(input, out, level.unwrap_or(ZSTD_DEFAULT_LEVEL))
        .map_err(|e| codec_error(Compression::Zstd, e))
}

#[cfg(feature = "zstd")]
fn zstd_decompress(input: &[u8], limit: usize) -> Result<Option<Vec<u8>>> {
    let codec = Compression::Zstd;
    let mut dec =
        zstd::stream::read::Decoder::with_buffer(input).map_err(|e| codec_error(codec, e))?;
    dec.window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|e| codec_error(codec, e))?;
    read_capped(codec, dec, input.len(), limit)
}

#[cfg(not(feature = "zstd"))]
fn zstd_compress(_level: Option<i32>, _input: &[u8], _out: &mut Vec<u8>) -> Result<()> {
    Err(zstd_missing())
}

#[cfg(not(feature = "zstd"))]
fn zstd_decompress(_input: &[u8], _limit: usize) -> Result<Option<Vec<u8>>> {
    Err(zstd_missing())
}

#[cfg(not(feature = "zstd"))]
fn zstd_missing() -> Error {
    codec_error(Compression::Zstd, "built without the `zstd` cargo feature")
}

#[cfg(test)]
pub(crate) mod bombs;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn available(codec: Compression) -> bool {
        codec != Compression::Zstd || cfg!(feature = "zstd")
    }

    /// Decompresses under the crate-wide limit; over it is an error here.
    fn unpack(codec: Compression, input: &[u8]) -> Result<Vec<u8>> {
        decompress(codec, input, MAX_DECOMPRESSED_SIZE)?
            .ok_or_else(|| codec_error(codec, "over the limit"))
    }

    fn roundtrip(codec: Compression, level: Option<i32>, data: &[u8]) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        compress(codec, level, data, &mut out).expect("compress");
        assert_eq!(&out[..6], b"prefix", "compress must append");
        unpack(codec, &out[6..]).expect("decompress")
    }

    /// Compressible but not trivial: repeated words with a counter.
    fn sample(len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 32);
        let mut i = 0u32;
        while v.len() < len {
            v.extend_from_slice(format!("record-{} value {} ", i % 97, i).as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    #[test]
    fn names_parse_and_attribute_bits() {
        for c in ALL {
            assert_eq!(c.name().parse::<Compression>(), Ok(c));
            assert_eq!(c.name().to_uppercase().parse::<Compression>(), Ok(c));
            assert_eq!(c.to_string(), c.name());
            assert_eq!(
                Compression::from_attributes(c.attribute_bits()).ok(),
                Some(c)
            );
            // Only the low three bits name the codec.
            let attr = c.attribute_bits() | 0x78;
            assert_eq!(Compression::from_attributes(attr).ok(), Some(c));
        }
        assert!(
            "brotli"
                .parse::<Compression>()
                .unwrap_err()
                .contains("brotli")
        );
        assert_eq!(Compression::default(), Compression::None);
        for id in 5..8 {
            assert!(matches!(
                Compression::from_attributes(id),
                Err(Error::CorruptRecord(_))
            ));
        }
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_large() {
        for c in ALL.into_iter().filter(|&c| available(c)) {
            for len in [0, 1, 100, 32 * 1024, 32 * 1024 + 1, 200_000] {
                let data = sample(len);
                assert_eq!(roundtrip(c, None, &data), data, "{c} len {len}");
            }
        }
    }

    #[test]
    fn levels() {
        let data = sample(10_000);
        for level in [1, 6, 9, -1] {
            assert_eq!(roundtrip(Compression::Gzip, Some(level), &data), data);
        }
        for level in [0, 10, i32::MIN] {
            let err = compress(Compression::Gzip, Some(level), &data, &mut Vec::new());
            assert!(
                matches!(err, Err(Error::Compression { codec: "gzip", .. })),
                "{err:?}"
            );
        }
        if available(Compression::Zstd) {
            for level in [1, 3, 19, -5] {
                assert_eq!(roundtrip(Compression::Zstd, Some(level), &data), data);
            }
        }
        // lz4_flex has one level; any is accepted.
        assert_eq!(roundtrip(Compression::Lz4, Some(17), &data), data);
    }

    #[test]
    fn lz4_writes_a_standard_frame_with_64k_blocks() {
        let mut out = Vec::new();
        compress(Compression::Lz4, None, &sample(300_000), &mut out).unwrap();
        assert_eq!(out[..4], 0x184D_2204u32.to_le_bytes());
        // FLG: version 01 and block independence; BD: max block size id 4 (64 KiB).
        assert_eq!(out[4] & 0xE0, 0x60);
        assert_eq!(out[5], 0x40);
    }

    #[test]
    fn snappy_writes_xerial_blocks_of_32k() {
        let data = sample(100_000);
        let mut out = Vec::new();
        compress(Compression::Snappy, None, &data, &mut out).unwrap();
        assert_eq!(out[..8], XERIAL_MAGIC);
        assert_eq!(out[8..16], [0, 0, 0, 1, 0, 0, 0, 1]);
        let mut rest = &out[16..];
        let mut blocks = Vec::new();
        while !rest.is_empty() {
            let len = i32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            blocks.push(
                snap::raw::Decoder::new()
                    .decompress_vec(&rest[4..4 + len])
                    .unwrap(),
            );
            rest = &rest[4 + len..];
        }
        assert_eq!(blocks.len(), 4);
        assert!(blocks[..3].iter().all(|b| b.len() == XERIAL_BLOCK_SIZE));
        assert_eq!(blocks.concat(), data);
    }

    #[test]
    fn snappy_reads_raw_and_hand_made_xerial() {
        let data = sample(5_000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(unpack(Compression::Snappy, &raw).unwrap(), data);

        // Xerial with uneven blocks, as another writer might produce.
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for part in [&data[..10], &data[10..4000], &data[4000..]] {
            let block = snap::raw::Encoder::new().compress_vec(part).unwrap();
            framed.extend_from_slice(&(block.len() as i32).to_be_bytes());
            framed.extend_from_slice(&block);
        }
        assert_eq!(unpack(Compression::Snappy, &framed).unwrap(), data);
        // Header only: no blocks, no bytes.
        assert_eq!(unpack(Compression::Snappy, &framed[..16]).unwrap(), b"");

        // Truncated header, truncated length, block length past the end, negative length.
        for bad in [
            framed[..12].to_vec(),
            framed[..18].to_vec(),
            framed[..framed.len() - 1].to_vec(),
            [&framed[..16], &(-5i32).to_be_bytes()[..]].concat(),
        ] {
            assert!(matches!(
                unpack(Compression::Snappy, &bad),
                Err(Error::Compression {
                    codec: "snappy",
                    ..
                })
            ));
        }
    }

    #[test]
    fn snappy_refuses_absurd_declared_lengths_without_allocating() {
        // A raw block whose varint header claims ~4 GiB from a 6-byte input.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            unpack(Compression::Snappy, &bomb),
            Err(Error::Compression { .. })
        ));
        // 100 MiB claimed by a 5-byte block: under the global cap, over any possible ratio.
        let mut claim = Vec::new();
        let mut n = 100u64 << 20;
        while n >= 0x80 {
            claim.push(n as u8 | 0x80);
            n >>= 7;
        }
        claim.push(n as u8);
        claim.push(0);
        assert!(unpack(Compression::Snappy, &claim).is_err());
    }

    #[test]
    fn output_cap_is_enforced() {
        let data = vec![0u8; 100_000];
        let mut gz = Vec::new();
        compress(Compression::Gzip, None, &data, &mut gz).unwrap();
        for (limit, fits) in [(99_999, false), (100_000, true), (0, false)] {
            let out = decompress(Compression::Gzip, &gz, limit).unwrap();
            assert_eq!(out.is_some(), fits, "limit {limit}");
            if let Some(out) = out {
                assert_eq!(out, data);
            }
        }
        assert_eq!(decompress(Compression::None, b"abc", 2).unwrap(), None);
        assert_eq!(
            decompress(Compression::None, b"abc", 3).unwrap().as_deref(),
            Some(&b"abc"[..])
        );
    }

    #[test]
    fn output_never_grows_past_the_limit() {
        // 3 MiB under a limit of exactly 3 MiB: a buffer that doubles would reach 4 MiB.
        let data = sample(3 << 20);
        for codec in ALL.into_iter().filter(|&c| available(c)) {
            let mut packed = Vec::new();
            compress(codec, None, &data, &mut packed).unwrap();
            let out = decompress(codec, &packed, data.len())
                .unwrap()
                .expect("fits");
            assert_eq!(out, data);
            assert!(
                out.capacity() <= data.len() + 1,
                "{codec}: capacity {} for {} bytes",
                out.capacity(),
                data.len()
            );
        }
    }

    /// GiB of zeros from a few MiB (snappy: 256 MiB from 12): refused at the limit, never expanded
    /// past it.
    #[test]
    fn bombs_are_refused_at_the_limit() {
        let limit = 64 << 20;
        let bombs = bombs::every_codec();
        for (codec, bomb) in bombs {
            assert!(
                bomb.len() < 16 << 20,
                "{codec} bomb of {} bytes",
                bomb.len()
            );
            assert_eq!(decompress(codec, &bomb, limit).unwrap(), None, "{codec}");
        }
    }

    #[test]
    fn gzip_reads_concatenated_members() {
        let (a, b) = (sample(1000), sample(3000));
        let mut gz = Vec::new();
        compress(Compression::Gzip, None, &a, &mut gz).unwrap();
        compress(Compression::Gzip, None, &b, &mut gz).unwrap();
        assert_eq!(unpack(Compression::Gzip, &gz).unwrap(), [a, b].concat());
    }

    #[cfg(not(feature = "zstd"))]
    #[test]
    fn zstd_without_feature_is_an_error() {
        for r in [
            compress(Compression::Zstd, None, b"x", &mut Vec::new()).err(),
            unpack(Compression::Zstd, b"x").err(),
        ] {
            match r {
                Some(Error::Compression { codec, reason }) => {
                    assert_eq!(codec, "zstd");
                    assert!(reason.contains("`zstd` cargo feature"));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    fn codec() -> impl Strategy<Value = Compression> {
        proptest::sample::select(ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_round_trip(c in codec(), data in proptest::collection::vec(any::<u8>(), 0..5000),
                           repeat in 1usize..20) {
            prop_assume!(available(c));
            let data = data.repeat(repeat);
            prop_assert_eq!(roundtrip(c, None, &data), data);
        }

        #[test]
        fn prop_garbage_never_panics(c in codec(), data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = unpack(c, &data);
        }

        #[test]
        fn prop_corrupted_output_never_panics(
            c in codec(),
            data in proptest::collection::vec(any::<u8>(), 0..3000),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            prop_assume!(available(c));
            let mut out = Vec::new();
            compress(c, None, &data.repeat(3), &mut out).unwrap();
            for (at, byte) in flips {
                let i = at.index(out.len());
                out[i] ^= byte;
            }
            let _ = unpack(c, &out);
            let _ = unpack(c, &out[..cut.index(out.len() + 1)]);
        }
    }
}
