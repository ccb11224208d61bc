//! DescribeClientQuotas and AlterClientQuotas (KIP-546): byte-rate, request and connection
//! quotas of users, client ids and IPs.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::network::Target;
use crate::protocol::StrBytes;
use crate::protocol::messages::alter_client_quotas_request::{
    EntityData as AlterEntity, EntryData as AlterEntry, OpData,
};
use crate::protocol::messages::describe_client_quotas_request::ComponentData;
use crate::protocol::messages::{
    AlterClientQuotasRequest, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};

use super::{AdminClient, item_error};

/// A quota entity: entity type (`user`, `client-id`, `ip`) to name, `None` for that type's
/// default entity.
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// One part of a [`describe_client_quotas`](AdminClient::describe_client_quotas) filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaFilterComponent {
    /// Entities of this type with this name.
    Exact(String, String),
    /// This type's default entity.
    Default(String),
    /// Every entity of this type that has a quota.
    Any(String),
}

/// Changes to one entity's quotas ([`alter_client_quotas`](AdminClient::alter_client_quotas)).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientQuotaAlteration {
    /// The entity.
    pub entity: QuotaEntity,
    /// Quota key (e.g. `producer_byte_rate`, bytes per second) to its new value, `None` to
    /// remove it.
    pub ops: Vec<(String, Option<f64>)>,
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(super) fn describe_request(
    components: &[QuotaFilterComponent],
    strict: bool,
) -> DescribeClientQuotasRequest {
    DescribeClientQuotasRequest::default()
        .with_strict(strict)
        .with_components(
            components
                .iter()
                .map(|c| {
                    let (t, match_type, name) = match c {
                        QuotaFilterComponent::Exact(t, n) => (t, 0, Some(sb(n))),
                        QuotaFilterComponent::Default(t) => (t, 1, None),
                        QuotaFilterComponent::Any(t) => (t, 2, None),
                    };
                    ComponentData::default()
                        .with_entity_type(sb(t))
                        .with_match_type(match_type)
                        .with_match(name)
                })
                .collect(),
        )
}

pub(super) fn described(
    resp: &DescribeClientQuotasResponse,
) -> Result<BTreeMap<QuotaEntity, BTreeMap<String, f64>>> {
    item_error(
        resp.error_code,
        resp.error_message.as_ref(),
        "DescribeClientQuotas",
    )?;
    Ok(resp
        .entries
        .iter()
        .flatten()
        .map(|e| {
            (
                e.entity
                    .iter()
                    .map(|x| {
                        (
                            x.entity_type.to_string(),
                            x.entity_name.as_ref().map(|n| n.to_string()),
                        )
                    })
                    .collect(),
                e.values
                    .iter()
                    .map(|v| (v.key.to_string(), v.value))
                    .collect(),
            )
        })
        .collect())
}

impl AdminClient {
    /// The quotas of every entity matching all `components`; `strict` leaves out entities
    /// with more entity types than the filter names.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_client_quotas(
        &self,
        components: &[QuotaFilterComponent],
        strict: bool,
    ) -> Result<BTreeMap<QuotaEntity, BTreeMap<String, f64>>> {
        let req = describe_request(components, strict);
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        described(&resp)
    }

    /// Sets and removes quotas. One entry per entity (INVALID_REQUEST with the broker's message
    /// for an unknown key or entity type).
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: quotas may change after the future was dropped.
    pub async fn alter_client_quotas(
        &self,
        alterations: Vec<ClientQuotaAlteration>,
    ) -> Result<BTreeMap<QuotaEntity, Result<()>>> {
        let req = AlterClientQuotasRequest::default().with_entries(
            alterations
                .iter()
                .map(|a| {
                    AlterEntry::default()
                        .with_entity(
                            a.entity
                                .iter()
                                .map(|(t, n)| {
                                    AlterEntity::default()
                                        .with_entity_type(sb(t))
                                        .with_entity_name(n.as_deref().map(sb))
                                })
                                .collect(),
                        )
                        .with_ops(
                            a.ops
                                .iter()
                                .map(|(k, v)| {
                                    OpData::default()
                                        .with_key(sb(k))
                                        .with_value(v.unwrap_or(0.0))
                                        .with_remove(v.is_none())
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        Ok(alterations
            .into_iter()
            .map(|a| {
                let found = resp.entries.iter().find(|e| {
                    e.entity.len() == a.entity.len()
                        && e.entity.iter().all(|x| {
                            a.entity.get(x.entity_type.as_str()).is_some_and(|n| {
                                n.as_deref() == x.entity_name.as_ref().map(|s| s.as_str())
                            })
                        })
                });
                let outcome = match found {
                    Some(e) => item_error(
                        e.error_code,
                        e.error_message.as_ref(),
                        &format!("quota entity {:?}", a.entity),
                    ),
                    None => Err(Error::Protocol(format!(
                        "AlterClientQuotas has no result for {:?}",
                        a.entity
                    ))),
                };
                (a.entity, outcome)
            })
            .collect())
    }
}
