//! Decompression bombs for tests: small inputs that expand to `mib` MiB of zeros, built a
//! piece at a time and repeated, so building one never holds the expanded bytes.

use std::io::Write;

use crate::types::Compression;

const MIB: usize = 1 << 20;

/// gzip members of 64 MiB each, concatenated (still one valid gzip input).
pub(crate) fn gzip(mib: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; MIB];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("gzip");
    }
    enc.finish().expect("gzip").repeat(mib.div_ceil(64))
}

/// One LZ4 frame of 4 MiB blocks, the same compressed block repeated.
pub(crate) fn lz4(mib: usize) -> Vec<u8> {
    let info = lz4_flex::frame::FrameInfo::new()
        .block_size(lz4_flex::frame::BlockSize::Max4MB)
        .block_mode(lz4_flex::frame::BlockMode::Independent);
    let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    enc.write_all(&vec![0u8; 4 * MIB]).expect("lz4");
    let frame = enc.finish().expect("lz4");
    // Magic, FLG, BD and header checksum (no content size, no dictionary): 7 bytes; then the
    // block (4-byte little-endian size, then its bytes) and a zero end mark.
    let (header, rest) = frame.split_at(7);
    let size = u32::from_le_bytes(rest[..4].try_into().expect("block size")) as usize;
    let block = &rest[..4 + size];
    assert_eq!(rest.len(), 4 + size + 4, "one block and the end mark");
    let mut out = header.to_vec();
    for _ in 0..mib.div_ceil(4) {
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// A xerial snappy stream of 32 KiB blocks, the same compressed block repeated (snappy cannot
/// expand more than ~22x: this one is the largest of the bombs).
pub(crate) fn snappy(mib: usize) -> Vec<u8> {
    let block = snap::raw::Encoder::new()
        .compress_vec(&[0u8; 32 * 1024])
        .expect("snappy");
    let mut out = super::XERIAL_MAGIC.to_vec();
    out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    for _ in 0..mib * 32 {
        out.extend_from_slice(&(block.len() as i32).to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// zstd frames of 64 MiB each, concatenated (a zstd stream may hold any number of frames).
#[cfg(feature = "zstd")]
pub(crate) fn zstd(mib: usize) -> Vec<u8> {
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd");
    let zeros = vec![0u8; MIB];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("zstd");
    }
    enc.finish().expect("zstd").repeat(mib.div_ceil(64))
}

/// One bomb per codec this build has, each expanding to GiBs (snappy: 256 MiB, its most).
pub(crate) fn every_codec() -> Vec<(Compression, Vec<u8>)> {
    vec![
        (Compression::Gzip, gzip(4096)),
        (Compression::Lz4, lz4(2048)),
        (Compression::Snappy, snappy(256)),
        #[cfg(feature = "zstd")]
        (Compression::Zstd, zstd(4096)),
    ]
}
