//! DescribeConfigs and IncrementalAlterConfigs (KIP-339): topics, brokers, groups.
//!
//! Broker and broker-logger resources go to the broker they name (only it answers for its own
//! configs); every other resource goes to any broker.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::network::Target;
use crate::protocol::StrBytes;
use crate::protocol::messages::describe_configs_request::DescribeConfigsResource;
use crate::protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use crate::protocol::messages::{
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};

use super::{
    AdminClient, AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, ConfigSynonym,
    DescribeConfigsOptions, item_error,
};

/// Per-resource config maps, keyed by config name.
pub(super) type DescribedConfigs = BTreeMap<ConfigResource, Result<BTreeMap<String, ConfigEntry>>>;

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Resources by the broker that must answer for them (`None`: any broker).
fn by_target<T: Clone>(
    items: &[(ConfigResource, T)],
) -> BTreeMap<Option<i32>, Vec<(ConfigResource, T)>> {
    let mut out: BTreeMap<Option<i32>, Vec<(ConfigResource, T)>> = BTreeMap::new();
    for (r, t) in items {
        out.entry(r.node())
            .or_default()
            .push((r.clone(), t.clone()));
    }
    out
}

fn target(node: Option<i32>) -> Target {
    node.map_or(Target::Any, Target::Node)
}

pub(super) fn describe_request(
    resources: &[ConfigResource],
    options: &DescribeConfigsOptions,
    version: i16,
) -> DescribeConfigsRequest {
    let mut req = DescribeConfigsRequest::default().with_resources(
        resources
            .iter()
            .map(|r| {
                DescribeConfigsResource::default()
                    .with_resource_type(r.resource_type.code())
                    .with_resource_name(str_bytes(&r.name))
                    .with_configuration_keys(
                        options
                            .keys
                            .as_ref()
                            .map(|ks| ks.iter().map(|k| str_bytes(k)).collect()),
                    )
            })
            .collect(),
    );
    if version >= 1 {
        req = req.with_include_synonyms(true);
    }
    if version >= 3 {
        req = req.with_include_documentation(options.include_documentation);
    }
    req
}

pub(super) fn describe_results(
    resources: &[ConfigResource],
    resp: &DescribeConfigsResponse,
) -> DescribedConfigs {
    let mut out = BTreeMap::new();
    for r in resources {
        let found = resp.results.iter().find(|x| {
            x.resource_type == r.resource_type.code() && x.resource_name.as_str() == r.name
        });
        let entry = match found {
            None => Err(Error::Protocol(format!(
                "DescribeConfigs response has no entry for {r}"
            ))),
            Some(x) => {
                item_error(x.error_code, x.error_message.as_ref(), &r.to_string()).map(|()| {
                    x.configs
                        .iter()
                        .map(|c| {
                            let e = ConfigEntry {
                                name: c.name.to_string(),
                                value: c.value.as_ref().map(|v| v.to_string()),
                                source: ConfigSource::from_code(c.config_source),
                                is_sensitive: c.is_sensitive,
                                is_read_only: c.read_only,
                                synonyms: c
                                    .synonyms
                                    .iter()
                                    .map(|s| ConfigSynonym {
                                        name: s.name.to_string(),
                                        value: s.value.as_ref().map(|v| v.to_string()),
                                        source: ConfigSource::from_code(s.source),
                                    })
                                    .collect(),
                                documentation: c.documentation.as_ref().map(|d| d.to_string()),
                            };
                            (e.name.clone(), e)
                        })
                        .collect()
                })
            }
        };
        out.insert(r.clone(), entry);
    }
    out
}

pub(super) fn alter_request(
    changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(
            changes
                .iter()
                .map(|(r, ops)| {
                    AlterConfigsResource::default()
                        .with_resource_type(r.resource_type.code())
                        .with_resource_name(str_bytes(&r.name))
                        .with_configs(
                            ops.iter()
                                .map(|op| {
                                    let (name, code, value) = op.wire();
                                    AlterableConfig::default()
                                        .with_name(str_bytes(name))
                                        .with_config_operation(code)
                                        .with_value(value.map(str_bytes))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

pub(super) fn alter_results(
    resources: &[ConfigResource],
    resp: &IncrementalAlterConfigsResponse,
) -> BTreeMap<ConfigResource, Result<()>> {
    resources
        .iter()
        .map(|r| {
            let found = resp.responses.iter().find(|x| {
                x.resource_type == r.resource_type.code() && x.resource_name.as_str() == r.name
            });
            let outcome = match found {
                None => Err(Error::Protocol(format!(
                    "IncrementalAlterConfigs response has no entry for {r}"
                ))),
                Some(x) => item_error(x.error_code, x.error_message.as_ref(), &r.to_string()),
            };
            (r.clone(), outcome)
        })
        .collect()
}

impl AdminClient {
    /// Describes the configs of topics, brokers and groups: every config with its value,
    /// source, synonyms, and whether it is sensitive or read only (`kafka-configs --describe
    /// --all`). A resource that does not exist gets its error (UNKNOWN_TOPIC_OR_PARTITION, ...)
    /// in its own entry.
    ///
    /// Example: [admin guide](crate::guide::admin#configs).
    ///
    /// # Errors
    /// The outer `Result` fails only when no broker could be asked at all within
    /// `default.api.timeout.ms`; a broker named by a broker resource that cannot be reached
    /// fails that resource's entry.
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_configs(
        &self,
        resources: impl IntoIterator<Item = ConfigResource>,
    ) -> Result<DescribedConfigs> {
        self.describe_configs_with(resources, DescribeConfigsOptions::default())
            .await
    }

    /// As [`describe_configs`](Self::describe_configs), with options (documentation, a subset of
    /// config names).
    ///
    /// Example: [admin guide](crate::guide::admin#configs).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_configs_with(
        &self,
        resources: impl IntoIterator<Item = ConfigResource>,
        options: DescribeConfigsOptions,
    ) -> Result<DescribedConfigs> {
        let items: Vec<(ConfigResource, ())> = resources.into_iter().map(|r| (r, ())).collect();
        let mut out = BTreeMap::new();
        for (node, group) in by_target(&items) {
            let rs: Vec<ConfigResource> = group.into_iter().map(|(r, ())| r).collect();
            let sent = self
                .retrying(|| {
                    self.net
                        .send_fn(target(node), |v| describe_request(&rs, &options, v))
                })
                .await;
            match sent {
                Ok(resp) => out.extend(describe_results(&rs, &resp)),
                Err(e) if node.is_some() => {
                    out.extend(rs.into_iter().map(|r| (r, Err(e.clone()))));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Changes configs of topics, brokers and groups: set, delete (back to the next level's
    /// value), append to or subtract from list configs. Each resource's changes apply
    /// atomically; each resource gets its own result (INVALID_CONFIG with the broker's message
    /// for a bad value or an unknown name, UNKNOWN_TOPIC_OR_PARTITION, ...).
    ///
    /// Example: [admin guide](crate::guide::admin#configs).
    ///
    /// # Errors
    /// As [`describe_configs`](Self::describe_configs).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the broker may apply changes of a request whose future was
    /// dropped.
    pub async fn incremental_alter_configs(
        &self,
        changes: impl IntoIterator<Item = (ConfigResource, Vec<AlterConfigOp>)>,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        self.alter_configs_inner(changes, false).await
    }

    /// As [`incremental_alter_configs`](Self::incremental_alter_configs), but the broker only
    /// validates the changes (`validate_only`) and applies nothing.
    ///
    /// Example: [admin guide](crate::guide::admin#configs).
    ///
    /// # Cancel safety
    /// Cancel safe (changes nothing).
    pub async fn validate_alter_configs(
        &self,
        changes: impl IntoIterator<Item = (ConfigResource, Vec<AlterConfigOp>)>,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        self.alter_configs_inner(changes, true).await
    }

    async fn alter_configs_inner(
        &self,
        changes: impl IntoIterator<Item = (ConfigResource, Vec<AlterConfigOp>)>,
        validate_only: bool,
    ) -> Result<BTreeMap<ConfigResource, Result<()>>> {
        let items: Vec<(ConfigResource, Vec<AlterConfigOp>)> = changes.into_iter().collect();
        let mut out = BTreeMap::new();
        for (node, group) in by_target(&items) {
            let rs: Vec<ConfigResource> = group.iter().map(|(r, _)| r.clone()).collect();
            let req = alter_request(&group, validate_only);
            let sent = self
                .retrying(|| self.net.send(target(node), req.clone()))
                .await;
            match sent {
                Ok(resp) => out.extend(alter_results(&rs, &resp)),
                Err(e) if node.is_some() => {
                    out.extend(rs.into_iter().map(|r| (r, Err(e.clone()))));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "configs_tests.rs"]
mod tests;
