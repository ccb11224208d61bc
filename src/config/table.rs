//! The property table: every key the producer, consumer and admin client accept, with its
//! scope, value kind, default and documentation.
//!
//! Names and defaults follow the Java client of Apache Kafka 4.x. The only ferrokafka-specific
//! key is `api.versions.max`.

use super::Client;

/// Which clients accept a property. A set of [`Client`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(u8);

impl Scope {
    /// Producer only.
    pub const PRODUCER: Scope = Scope(1);
    /// Consumer only.
    pub const CONSUMER: Scope = Scope(2);
    /// Admin client only.
    pub const ADMIN: Scope = Scope(4);
    /// Consumer and admin client.
    pub const CONSUMER_ADMIN: Scope = Scope(2 | 4);
    /// Producer and consumer.
    pub const PRODUCER_CONSUMER: Scope = Scope(1 | 2);
    /// Every client.
    pub const COMMON: Scope = Scope(1 | 2 | 4);

    /// Whether `client` accepts properties of this scope.
    pub const fn contains(self, client: Client) -> bool {
        self.0 & Scope::of(client).0 != 0
    }

    const fn of(client: Client) -> Scope {
        match client {
            Client::Producer => Scope::PRODUCER,
            Client::Consumer => Scope::CONSUMER,
            Client::Admin => Scope::ADMIN,
        }
    }

    /// The clients in this scope, e.g. `"consumer and admin"`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = [Client::Producer, Client::Consumer, Client::Admin]
            .into_iter()
            .filter(|c| self.contains(*c))
            .map(Client::name)
            .collect();
        names.join(" and ")
    }

    fn union(self, other: Scope) -> Scope {
        Scope(self.0 | other.0)
    }
}

/// The type of a property's value, as written in a property map.
///
/// Every value is trimmed of surrounding whitespace before it is parsed (as Java does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `true` or `false`, case-insensitive.
    Bool,
    /// A whole number within `min..=max`.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A whole number of milliseconds within `min_ms..=max_ms`.
    Duration {
        /// Smallest accepted value, in ms.
        min_ms: u64,
        /// Largest accepted value, in ms.
        max_ms: u64,
    },
    /// A whole number of bytes within `min..=max` (no unit suffixes).
    Size {
        /// Smallest accepted value, in bytes.
        min: u64,
        /// Largest accepted value, in bytes.
        max: u64,
    },
    /// Free text.
    String,
    /// A secret (password, private key, JAAS config): free text that is never printed.
    Password,
    /// One of a fixed set of names, case-insensitive.
    Enum(&'static [&'static str]),
    /// A comma-separated list whose every entry is one of a fixed set of names
    /// (case-insensitive). Entries are trimmed; empty entries are rejected.
    EnumList(&'static [&'static str]),
    /// A non-empty comma-separated list of `host:port` entries (IPv6 hosts in brackets).
    HostList,
    /// A comma-separated list of `ApiName=version` entries (see `api.versions.max`).
    ApiVersions,
}

/// A property's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DefaultValue {
    /// This value, written as in a property map.
    Value(&'static str),
    /// No value: the feature is off (e.g. no `group.id`).
    Unset,
    /// No default: the property must be given.
    Required,
}

/// One row of the property table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// The key, e.g. `linger.ms`.
    pub name: &'static str,
    /// The clients that accept it.
    pub scope: Scope,
    /// Its value type and range.
    pub kind: Kind,
    /// Its default for the clients in `scope`.
    pub default: DefaultValue,
    /// What it does, with units.
    pub doc: &'static str,
}

/// Largest value of a Java `int` property.
const INT: u64 = i32::MAX as u64;
/// Largest value of a Java `long` property.
const LONG: u64 = i64::MAX as u64;
const INT_I: i64 = i32::MAX as i64;

const fn p(
    name: &'static str,
    scope: Scope,
    kind: Kind,
    default: DefaultValue,
    doc: &'static str,
) -> Property {
    Property {
        name,
        scope,
        kind,
        default,
        doc,
    }
}

const fn ms(min_ms: u64, max_ms: u64) -> Kind {
    Kind::Duration { min_ms, max_ms }
}

const fn bytes(min: u64, max: u64) -> Kind {
    Kind::Size { min, max }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

use DefaultValue::{Required, Unset, Value as D};
use Kind::{Bool, Enum, EnumList, String as Str};

/// Accepted values of `partition.assignment.strategy` (short names and Java class names).
pub(crate) const ASSIGNORS: &[&str] = &[
    "range",
    "roundrobin",
    "sticky",
    "cooperative-sticky",
    "org.apache.kafka.clients.consumer.RangeAssignor",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor",
    "org.apache.kafka.clients.consumer.StickyAssignor",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
];

/// Every property of every client. A name appears twice only where Java's default differs
/// between clients (the rows' scopes are then disjoint).
pub static PROPERTIES: &[Property] =
    &concat::<{ GENERAL.len() + security_rows::ROWS.len() }>(GENERAL, security_rows::ROWS);

/// `a` then `b`, as one array of `N` rows (`N` must be the sum of their lengths).
const fn concat<const N: usize>(a: &[Property], b: &[Property]) -> [Property; N] {
    assert!(a.len() + b.len() == N && !a.is_empty());
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

#[path = "security_rows.rs"]
mod security_rows;

#[path = "general_rows.rs"]
mod general_rows;
use general_rows::ROWS as GENERAL;

/// Keys that are recognised but refused, with the reason.
const REJECTED: &[(&str, &str)] = &[
    (
        "key.serializer",
        "not accepted: ferrokafka producers take keys and values as bytes; serialize before sending",
    ),
    (
        "value.serializer",
        "not accepted: ferrokafka producers take keys and values as bytes; serialize before sending",
    ),
    (
        "key.deserializer",
        "not accepted: ferrokafka consumers return keys and values as bytes; deserialize after polling",
    ),
    (
        "value.deserializer",
        "not accepted: ferrokafka consumers return keys and values as bytes; deserialize after polling",
    ),
];

/// The properties `client` accepts, one row per name.
pub fn properties_for(client: Client) -> impl Iterator<Item = &'static Property> {
    PROPERTIES.iter().filter(move |p| p.scope.contains(client))
}

/// The row for `name` as `client` sees it, if `client` accepts it.
pub fn lookup(client: Client, name: &str) -> Option<&'static Property> {
    properties_for(client).find(|p| p.name == name)
}

/// The row for `name`, or an error saying why `client` does not accept it: another client's
/// property, a refused key, or an unknown one (with the closest known key, if any).
pub(crate) fn resolve(client: Client, name: &str) -> Result<&'static Property, String> {
    if let Some(p) = lookup(client, name) {
        return Ok(p);
    }
    let other = PROPERTIES
        .iter()
        .filter(|p| p.name == name)
        .fold(None, |acc: Option<Scope>, p| {
            Some(acc.map_or(p.scope, |s| s.union(p.scope)))
        });
    if let Some(scope) = other {
        return Err(format!(
            "is a {} property, not valid for the {}",
            scope.describe(),
            match client {
                Client::Admin => "admin client",
                other => other.name(),
            }
        ));
    }
    if let Some((_, why)) = REJECTED.iter().find(|(k, _)| *k == name) {
        return Err((*why).to_owned());
    }
    if name.starts_with("ssl.") || name.starts_with("sasl.") {
        if let Some(s) = suggest(client, name) {
            return Err(format!("unknown property (did you mean `{s}`?)"));
        }
        return Err(
            "unknown property: of Java's ssl.* and sasl.* settings, only those listed in \
             ferrokafka::config::PROPERTIES are supported so far"
                .to_owned(),
        );
    }
    Err(match suggest(client, name) {
        Some(s) => format!("unknown property (did you mean `{s}`?)"),
        None => "unknown property".to_owned(),
    })
}

/// The known key of `client` closest to `name`, if within a small edit distance
/// (1 for names up to 4 characters, 2 up to 8, else 3).
fn suggest(client: Client, name: &str) -> Option<&'static str> {
    let len = name.chars().count();
    let limit = match len {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    properties_for(client)
        .map(|p| (edit_distance(name, p.name), p.name))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENTS: [Client; 3] = [Client::Producer, Client::Consumer, Client::Admin];

    #[test]
    fn every_default_parses_with_its_kind() {
        for p in PROPERTIES {
            if let DefaultValue::Value(v) = p.default {
                assert!(p.kind.parse(p.name, v).is_ok(), "default of {}", p.name);
            }
            assert!(!p.doc.is_empty(), "doc of {}", p.name);
        }
    }

    #[test]
    fn names_are_unique_per_client() {
        for c in CLIENTS {
            let mut names: Vec<_> = properties_for(c).map(|p| p.name).collect();
            let n = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), n, "{c:?}");
        }
    }

    #[test]
    fn enum_values_are_lowercase_except_security_protocol_and_class_names() {
        for p in PROPERTIES {
            if let Kind::Enum(vals) | Kind::EnumList(vals) = p.kind {
                for v in vals {
                    let java_name = v.starts_with("org.apache.")
                        || p.name == "security.protocol"
                        // Java's RecordingLevel names.
                        || p.name == "metrics.recording.level"
                        || p.name.starts_with("ssl.")
                        || p.name.starts_with("sasl.");
                    assert!(java_name || *v == v.to_lowercase(), "{}: {v}", p.name);
                }
            }
        }
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("lnger.ms", "linger.ms"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest(Client::Producer, "lnger.ms"), Some("linger.ms"));
        assert_eq!(
            suggest(Client::Consumer, "bootstrap.server"),
            Some("bootstrap.servers")
        );
        assert_eq!(suggest(Client::Producer, "ack"), Some("acks"));
        assert_eq!(suggest(Client::Producer, "foo"), None);
        assert_eq!(suggest(Client::Producer, "completely.unrelated.key"), None);
    }

    #[test]
    fn scope_description() {
        assert_eq!(Scope::CONSUMER_ADMIN.describe(), "consumer and admin");
        assert_eq!(Scope::PRODUCER.describe(), "producer");
        assert!(Scope::COMMON.contains(Client::Admin));
        assert!(!Scope::CONSUMER.contains(Client::Producer));
    }

    #[test]
    fn resolve_messages() {
        let e = resolve(Client::Producer, "group.id").unwrap_err();
        assert_eq!(e, "is a consumer property, not valid for the producer");
        let e = resolve(Client::Producer, "default.api.timeout.ms").unwrap_err();
        assert_eq!(
            e,
            "is a consumer and admin property, not valid for the producer"
        );
        let e = resolve(Client::Producer, "key.serializer").unwrap_err();
        assert!(e.contains("bytes"), "{e}");
        let e = resolve(Client::Admin, "sasl.kerberos.service.name").unwrap_err();
        assert!(e.contains("supported so far"), "{e}");
        assert!(resolve(Client::Admin, "sasl.mechanism").is_ok());
        let e = resolve(Client::Admin, "zzz").unwrap_err();
        assert_eq!(e, "unknown property");
        assert_eq!(
            resolve(Client::Admin, "connections.max.idle.ms").map(|p| p.default),
            Ok(DefaultValue::Value("300000"))
        );
    }
}
