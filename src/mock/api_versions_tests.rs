//! ApiVersions newer than the mock's codec (KIP-511): the Java client 4.x and franz-go open every
//! connection with ApiVersions v5; a broker that does not know it must answer in v0 with
//! UNSUPPORTED_VERSION and its own range, on the same connection, so the client retries lower.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::MockCluster;

/// ApiVersions request at `version` (header v2, body as v3+: software name and version).
fn api_versions_frame(version: i16, correlation: i32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&correlation.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.push(b't');
    body.push(0); // header tagged fields
    body.extend_from_slice(&[2, b'x', 2, b'1', 0]); // compact strings "x", "1"; no tags
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

async fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let n = s.read_i32().await?;
    let mut buf = vec![0; n as usize];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

#[tokio::test]
async fn newer_api_versions_gets_v0_unsupported_version_with_the_range() {
    let c = MockCluster::builder().build().await.expect("mock");
    let mut s = TcpStream::connect(c.bootstrap_servers())
        .await
        .expect("connect");
    s.write_all(&api_versions_frame(i16::MAX, 7))
        .await
        .expect("write");
    let r = read_frame(&mut s)
        .await
        .expect("a response, not a closed connection");
    // v0: correlation id, error code, then api_keys as (key, min, max) after an i32 count.
    assert_eq!(i32::from_be_bytes([r[0], r[1], r[2], r[3]]), 7);
    assert_eq!(i16_at(&r, 4), crate::error::code::UNSUPPORTED_VERSION);
    let count = i32::from_be_bytes([r[6], r[7], r[8], r[9]]) as usize;
    let entries: Vec<(i16, i16, i16)> = (0..count)
        .map(|i| 10 + 6 * i)
        .map(|at| (i16_at(&r, at), i16_at(&r, at + 2), i16_at(&r, at + 4)))
        .collect();
    let own = entries
        .iter()
        .find(|e| e.0 == 18)
        .expect("ApiVersions' own range");
    assert!(own.2 >= 3, "max {}", own.2);
    assert!(entries.iter().any(|e| e.0 == 0), "Produce listed");

    // The connection stays open for the retry at the version offered.
    s.write_all(&api_versions_frame(own.2, 8))
        .await
        .expect("write");
    let r = read_frame(&mut s).await.expect("retry answered");
    assert_eq!(i32::from_be_bytes([r[0], r[1], r[2], r[3]]), 8);
    // v3+ response header is v0 (ApiVersions' exception); error code follows.
    assert_eq!(i16_at(&r, 4), 0);
}
