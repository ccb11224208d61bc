//! FindCoordinator: which broker coordinates a group or a transactional id. One request and
//! one reading of its answer, shared by the consumer, the transactional producer and the admin
//! client (KIP-699 moved the answer into a per-key list from v4).

use super::{NetworkClient, Target};
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::StrBytes;
use crate::protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use crate::types::Node;

/// What a FindCoordinator names (the protocol's `key_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CoordinatorType {
    Group,
    Transaction,
}

impl CoordinatorType {
    fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

/// The request for one `key`, in the shape `version` has.
pub(crate) fn request(kind: CoordinatorType, key: &str, version: i16) -> FindCoordinatorRequest {
    let req = FindCoordinatorRequest::default().with_key_type(kind.key_type());
    let key = StrBytes::from_string(key.to_string());
    if version >= 4 {
        req.with_coordinator_keys(vec![key])
    } else {
        req.with_key(key)
    }
}

/// The coordinator the answer names, or its error (with the broker's message when it sent one).
pub(crate) fn coordinator(resp: &FindCoordinatorResponse, key: &str) -> Result<Node> {
    let (code, message, id, host, port) = match resp.coordinators.first() {
        Some(c) => (c.error_code, &c.error_message, c.node_id.0, &c.host, c.port),
        None => (
            resp.error_code,
            &resp.error_message,
            resp.node_id.0,
            &resp.host,
            resp.port,
        ),
    };
    if let Some(code) = ErrorCode::from_code(code) {
        return Err(Error::Broker {
            code,
            context: match message {
                Some(m) if !m.is_empty() => format!("FindCoordinator {key}: {m}"),
                _ => format!("FindCoordinator {key}"),
            },
        });
    }
    Ok(Node {
        id,
        host: host.to_string(),
        port: u16::try_from(port)
            .map_err(|_| Error::Protocol(format!("coordinator port {port}")))?,
        rack: None,
    })
}

impl NetworkClient {
    /// Asks any broker which one coordinates `key`. Errors: the broker's (e.g.
    /// COORDINATOR_NOT_AVAILABLE, retriable) as [`Error::Broker`], or the connection's.
    pub(crate) async fn find_coordinator(&self, kind: CoordinatorType, key: &str) -> Result<Node> {
        let resp = self
            .send_fn(Target::Any, |version| request(kind, key, version))
            .await?;
        coordinator(&resp, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::BrokerId;
    use crate::protocol::messages::find_coordinator_response::Coordinator;

    #[test]
    fn requests_and_answers_by_version() {
        let old = request(CoordinatorType::Transaction, "tx", 3);
        assert_eq!((old.key_type, old.key.as_str()), (1, "tx"));
        assert!(old.coordinator_keys.is_empty());
        let new = request(CoordinatorType::Group, "g", 4);
        assert_eq!(new.key_type, 0);
        assert_eq!(new.coordinator_keys[0].as_str(), "g");

        let v3 = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(2))
            .with_host(StrBytes::from_static_str("h"))
            .with_port(9092);
        let node = coordinator(&v3, "g").expect("v3 answer");
        assert_eq!((node.id, node.host.as_str(), node.port), (2, "h", 9092));

        let v4 = FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default()
                .with_error_code(15)
                .with_error_message(Some(StrBytes::from_static_str("loading"))),
        ]);
        match coordinator(&v4, "g") {
            Err(Error::Broker { code, context }) => {
                assert_eq!(code, ErrorCode(15));
                assert_eq!(context, "FindCoordinator g: loading");
            }
            other => panic!("{other:?}"),
        }

        let bad_port = v3.clone().with_port(-1);
        assert!(matches!(
            coordinator(&bad_port, "g"),
            Err(Error::Protocol(_))
        ));
    }
}
