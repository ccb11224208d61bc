//! The public value types every layer shares: topics and partitions, brokers, topic ids,
//! codecs. They sit on the ground floor (nothing here depends on the network, the protocol
//! or a client), so any layer can name them and users import them from one place.

use std::fmt;
use std::str::FromStr;

/// A topic and one of its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition id (0-based).
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`-`partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A topic's id (KIP-516), shown as Kafka shows it: URL-safe base64 without padding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    /// Whether this is the all-zero id (a broker that does not track topic ids sends it).
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &b in &self.0 {
            bits = (bits << 8) | u32::from(b);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                f.write_fmt(format_args!(
                    "{}",
                    ALPHABET[((bits >> nbits) & 63) as usize] as char
                ))?;
            }
        }
        if nbits > 0 {
            let idx = ((bits << (6 - nbits)) & 63) as usize;
            f.write_fmt(format_args!("{}", ALPHABET[idx] as char))?;
        }
        Ok(())
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

/// A broker as the cluster metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The broker id (`node.id`).
    pub id: i32,
    /// The advertised host name.
    pub host: String,
    /// The advertised port.
    pub port: u16,
    /// The broker's rack (`broker.rack`), if set.
    pub rack: Option<String>,
}

impl Node {
    /// `host:port`, ready to connect to.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The codec applied to the records of a batch (producer config `compression.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (deflate), levels 1 to 9.
    Gzip,
    /// Snappy, written in the xerial stream framing the Java client uses.
    Snappy,
    /// LZ4, in the standard LZ4 frame format.
    Lz4,
    /// Zstandard. Needs the `zstd` cargo feature; without it, using it is an error.
    Zstd,
}

impl Compression {
    /// The codec's name as in `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            format!("unknown compression type `{s}` (expected none, gzip, snappy, lz4 or zstd)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_id_display() {
        assert_eq!(TopicId([0; 16]).to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        let mut b = [0u8; 16];
        b[15] = 1;
        assert_eq!(TopicId(b).to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(TopicId([255; 16]).to_string(), "_____________________w");
        assert!(TopicId::default().is_nil());
    }

    #[test]
    fn display_forms() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
        let n = Node {
            id: 1,
            host: "::1".into(),
            port: 9092,
            rack: None,
        };
        assert_eq!(n.addr(), "[::1]:9092");
        assert_eq!("LZ4".parse::<Compression>(), Ok(Compression::Lz4));
        assert!("brotli".parse::<Compression>().is_err());
    }
}
