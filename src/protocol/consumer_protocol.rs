//! TEMPORARY stand-in until the consumer protocol module lands (v1 only).
#![allow(dead_code)]
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub topics: Vec<String>,
    pub user_data: Option<Bytes>,
    pub owned_partitions: Vec<TopicPartitions>,
    pub generation_id: i32,
    pub rack_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub partitions: Vec<TopicPartitions>,
    pub user_data: Option<Bytes>,
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}
fn get_str(b: &mut Bytes) -> Result<String> {
    if b.remaining() < 2 {
        return Err(Error::Protocol("short".into()));
    }
    let n = b.get_i16();
    if n < 0 || b.remaining() < n as usize {
        return Err(Error::Protocol("short".into()));
    }
    String::from_utf8(b.split_to(n as usize).to_vec()).map_err(|e| Error::Protocol(e.to_string()))
}
fn put_tps(b: &mut BytesMut, tps: &[TopicPartitions]) {
    b.put_i32(tps.len() as i32);
    for t in tps {
        put_str(b, &t.topic);
        b.put_i32(t.partitions.len() as i32);
        for p in &t.partitions {
            b.put_i32(*p);
        }
    }
}
fn get_tps(b: &mut Bytes) -> Result<Vec<TopicPartitions>> {
    if b.remaining() < 4 {
        return Err(Error::Protocol("short".into()));
    }
    let n = b.get_i32();
    let mut out = Vec::new();
    for _ in 0..n.max(0) {
        let topic = get_str(b)?;
        if b.remaining() < 4 {
            return Err(Error::Protocol("short".into()));
        }
        let m = b.get_i32();
        let mut partitions = Vec::new();
        for _ in 0..m.max(0) {
            if b.remaining() < 4 {
                return Err(Error::Protocol("short".into()));
            }
            partitions.push(b.get_i32());
        }
        out.push(TopicPartitions { topic, partitions });
    }
    Ok(out)
}
fn get_bytes(b: &mut Bytes) -> Result<Option<Bytes>> {
    if b.remaining() < 4 {
        return Ok(None);
    }
    let n = b.get_i32();
    if n < 0 {
        return Ok(None);
    }
    if b.remaining() < n as usize {
        return Err(Error::Protocol("short".into()));
    }
    Ok(Some(b.split_to(n as usize)))
}

impl Subscription {
    pub(crate) fn encode(&self, _version: i16) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(self.topics.len() as i32);
        for t in &self.topics {
            put_str(&mut b, t);
        }
        b.put_i32(-1);
        put_tps(&mut b, &self.owned_partitions);
        b.freeze()
    }
    pub(crate) fn decode(mut b: Bytes) -> Result<Subscription> {
        if b.remaining() < 6 {
            return Err(Error::Protocol("short".into()));
        }
        let version = b.get_i16();
        let n = b.get_i32();
        let mut topics = Vec::new();
        for _ in 0..n.max(0) {
            topics.push(get_str(&mut b)?);
        }
        let user_data = get_bytes(&mut b)?;
        let owned_partitions = if version >= 1 && b.has_remaining() {
            get_tps(&mut b)?
        } else {
            Vec::new()
        };
        Ok(Subscription {
            topics,
            user_data,
            owned_partitions,
            generation_id: -1,
            rack_id: None,
        })
    }
}

impl Assignment {
    pub(crate) fn encode(&self, _version: i16) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        put_tps(&mut b, &self.partitions);
        b.put_i32(-1);
        b.freeze()
    }
    pub(crate) fn decode(mut b: Bytes) -> Result<Assignment> {
        if b.remaining() < 2 {
            return Err(Error::Protocol("short".into()));
        }
        let _v = b.get_i16();
        let partitions = get_tps(&mut b)?;
        let user_data = get_bytes(&mut b)?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}
