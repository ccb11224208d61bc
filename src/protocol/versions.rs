//! ApiVersions negotiation (KIP-35/KIP-511): for each API use the highest version both we and
//! the broker support, optionally capped by the user (`api.versions.max`).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Message, VersionRange};

use crate::error::{Error, Result};

/// Versions whose semantics this client does not implement yet, even though the codec does.
/// Produce/Fetch v13+ address topics by id only (KIP-516).
fn semantic_cap(key: ApiKey) -> Option<i16> {
    match key {
        ApiKey::Produce => Some(12),
        ApiKey::Fetch => Some(12),
        // OffsetFetch v8+ batches groups; OffsetCommit v10 addresses topics by id.
        ApiKey::OffsetFetch => Some(7),
        ApiKey::OffsetCommit => Some(9),
        // AddPartitionsToTxn v4+ is the brokers' batched form. (EndTxn v5, TxnOffsetCommit v5
        // and Produce v12 mean transactions version 2: the transaction manager caps them per
        // call when the broker has not finalized it.)
        ApiKey::AddPartitionsToTxn => Some(3),
        _ => None,
    }
}

fn names() -> &'static HashMap<i16, &'static str> {
    static NAMES: OnceLock<HashMap<i16, &'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        // One-time, bounded (one string per API key) leak to get `&'static str` names.
        ApiKey::iter()
            .map(|k| (k as i16, &*Box::leak(format!("{k:?}").into_boxed_str())))
            .collect()
    })
}

/// The API's name as the protocol guide spells it, e.g. `"Metadata"`.
pub(crate) fn api_name(key: i16) -> &'static str {
    names().get(&key).copied().unwrap_or("UnknownApi")
}

/// Looks an API key up by name (case-insensitive), e.g. `"fetch"` -> 1.
pub(crate) fn api_key_from_name(name: &str) -> Option<i16> {
    names()
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(k, _)| *k)
}

/// The request message's own codec range: the codec's per-API table can claim a version its
/// message type cannot encode (InitProducerId v6 in kafka-protocol 0.18), so trust the message.
fn message_range(api: ApiKey) -> Option<VersionRange> {
    macro_rules! ranges {
        ($($key:ident => $req:ty),* $(,)?) => {
            match api {
                $(ApiKey::$key => Some(<$req as Message>::VERSIONS),)*
                _ => None,
            }
        };
    }
    ranges! {
        Produce => ProduceRequest,
        Fetch => FetchRequest,
        ListOffsets => ListOffsetsRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest,
        DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest,
        DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest,
        CreatePartitions => CreatePartitionsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        OffsetDelete => OffsetDeleteRequest,
        DescribeCluster => DescribeClusterRequest,
    }
}

/// The versions of `key` this client can speak: the codec's range minus unimplemented semantics.
pub(crate) fn client_range(key: i16) -> Option<(i16, i16)> {
    let api = ApiKey::try_from(key).ok()?;
    let mut r = api.valid_versions();
    if let Some(m) = message_range(api) {
        r = r.intersect(&m);
    }
    let max = semantic_cap(api).map_or(r.max, |c| c.min(r.max));
    (r.min <= max).then_some((r.min, max))
}

/// What one broker said it supports, from its ApiVersions response.
#[derive(Debug, Clone, Default)]
pub(crate) struct BrokerVersions {
    ranges: HashMap<i16, (i16, i16)>,
    /// The finalized level of feature `transaction.version` (0 when not finalized).
    transaction_version: i16,
}

impl BrokerVersions {
    pub(crate) fn from_response(resp: &ApiVersionsResponse) -> BrokerVersions {
        BrokerVersions {
            ranges: resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
            transaction_version: resp
                .finalized_features
                .iter()
                .find(|f| f.name.as_str() == "transaction.version")
                .map_or(0, |f| f.max_version_level),
        }
    }

    #[cfg(test)]
    pub(crate) fn from_ranges(ranges: &[(i16, i16, i16)]) -> BrokerVersions {
        BrokerVersions {
            ranges: ranges.iter().map(|&(k, lo, hi)| (k, (lo, hi))).collect(),
            transaction_version: 0,
        }
    }

    /// The finalized `transaction.version` feature level (2: KIP-890 transactions), 0 when
    /// the broker finalized none.
    pub(crate) fn transaction_version(&self) -> i16 {
        self.transaction_version
    }

    /// The broker's range for `key`, if it supports the API at all.
    pub(crate) fn range(&self, key: i16) -> Option<(i16, i16)> {
        self.ranges.get(&key).copied()
    }

    /// Picks `min(our max, broker max)` after the user's cap, or fails with
    /// [`Error::UnsupportedVersion`] naming the API when the ranges do not overlap.
    pub(crate) fn pick(&self, key: i16, caps: &BTreeMap<i16, i16>, addr: &str) -> Result<i16> {
        let api = api_name(key);
        let (cmin, mut cmax) = client_range(key).ok_or_else(|| Error::UnsupportedVersion {
            api,
            addr: addr.to_string(),
            broker_min: -1,
            broker_max: -1,
            client_min: -1,
            client_max: -1,
        })?;
        if let Some(cap) = caps.get(&key) {
            cmax = cmax.min(*cap);
        }
        let (bmin, bmax) = self.range(key).unwrap_or((-1, -1));
        let v = cmax.min(bmax);
        if bmax < 0 || v < cmin.max(bmin) {
            return Err(Error::UnsupportedVersion {
                api,
                addr: addr.to_string(),
                broker_min: bmin,
                broker_max: bmax,
                client_min: cmin,
                client_max: cmax,
            });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ranges_bound_the_codec_table() {
        assert_eq!(
            client_range(22),
            Some((0, 5)),
            "InitProducerId message encodes up to v5"
        );
        assert_eq!(client_range(0).map(|r| r.0), Some(3));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(api_name(3), "Metadata");
        assert_eq!(api_name(18), "ApiVersions");
        assert_eq!(api_key_from_name("fetch"), Some(1));
        assert_eq!(api_key_from_name("ApiVersions"), Some(18));
        assert_eq!(api_key_from_name("nope"), None);
    }

    #[test]
    fn negotiation() {
        let b = BrokerVersions::from_ranges(&[(0, 3, 11), (1, 0, 17), (3, 0, 12), (19, 0, 7)]);
        let none = BTreeMap::new();
        assert_eq!(b.pick(0, &none, "b:1").unwrap(), 11);
        assert_eq!(
            b.pick(1, &none, "b:1").unwrap(),
            12,
            "fetch capped by our semantics"
        );
        assert_eq!(b.pick(3, &none, "b:1").unwrap(), 12);
        let caps = BTreeMap::from([(3i16, 9i16)]);
        assert_eq!(b.pick(3, &caps, "b:1").unwrap(), 9);
        // Broker lacks the API entirely.
        let e = b.pick(8, &none, "b:1").unwrap_err();
        assert!(e.to_string().contains("OffsetCommit"), "{e}");
        // No overlap: cap below our minimum for Produce (min 3).
        let caps = BTreeMap::from([(0i16, 2i16)]);
        match b.pick(0, &caps, "b:1").unwrap_err() {
            Error::UnsupportedVersion {
                api, broker_max, ..
            } => {
                assert_eq!(api, "Produce");
                assert_eq!(broker_max, 11);
            }
            e => panic!("unexpected {e}"),
        }
    }
}
