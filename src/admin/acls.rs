//! CreateAcls, DescribeAcls, DeleteAcls (KIP-140). Any broker answers; KRaft brokers forward
//! writes to the controller.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::network::Target;
use crate::protocol::StrBytes;
use crate::protocol::messages::create_acls_request::AclCreation;
use crate::protocol::messages::delete_acls_request::DeleteAclsFilter;
use crate::protocol::messages::{
    CreateAclsRequest, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};

use super::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AclResourceType, AdminClient,
    PatternType, item_error,
};

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub(super) fn describe_request(f: &AclBindingFilter) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(f.resource_type.code())
        .with_resource_name_filter(f.resource_name.as_deref().map(sb))
        .with_pattern_type_filter(f.pattern_type.code())
        .with_principal_filter(f.principal.as_deref().map(sb))
        .with_host_filter(f.host.as_deref().map(sb))
        .with_operation(f.operation.code())
        .with_permission_type(f.permission.code())
}

pub(super) fn described(resp: &DescribeAclsResponse) -> Result<Vec<AclBinding>> {
    item_error(resp.error_code, resp.error_message.as_ref(), "DescribeAcls")?;
    let mut out: Vec<AclBinding> = resp
        .resources
        .iter()
        .flat_map(|r| {
            r.acls.iter().map(|a| AclBinding {
                resource_type: AclResourceType::from_code(r.resource_type),
                resource_name: r.resource_name.to_string(),
                pattern_type: PatternType::from_code(r.pattern_type),
                principal: a.principal.to_string(),
                host: a.host.to_string(),
                operation: AclOperation::from_code(a.operation),
                permission: AclPermissionType::from_code(a.permission_type),
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

pub(super) fn deleted(
    filters: &[AclBindingFilter],
    resp: &DeleteAclsResponse,
) -> BTreeMap<AclBindingFilter, Result<Vec<AclBinding>>> {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let outcome = match resp.filter_results.get(i) {
                None => Err(Error::Protocol(format!(
                    "DeleteAcls has no result for filter {i}"
                ))),
                Some(r) => item_error(r.error_code, r.error_message.as_ref(), "DeleteAcls")
                    .and_then(|()| {
                        r.matching_acls
                            .iter()
                            .map(|m| {
                                item_error(m.error_code, m.error_message.as_ref(), "DeleteAcls")?;
                                Ok(AclBinding {
                                    resource_type: AclResourceType::from_code(m.resource_type),
                                    resource_name: m.resource_name.to_string(),
                                    pattern_type: PatternType::from_code(m.pattern_type),
                                    principal: m.principal.to_string(),
                                    host: m.host.to_string(),
                                    operation: AclOperation::from_code(m.operation),
                                    permission: AclPermissionType::from_code(m.permission_type),
                                })
                            })
                            .collect()
                    }),
            };
            (f.clone(), outcome)
        })
        .collect()
}

impl AdminClient {
    /// Creates ACLs. One entry per binding (SECURITY_DISABLED without an authorizer,
    /// INVALID_REQUEST with the broker's message for a binding that is not valid).
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: ACLs may be created after the future was dropped.
    pub async fn create_acls(
        &self,
        acls: impl IntoIterator<Item = AclBinding>,
    ) -> Result<BTreeMap<AclBinding, Result<()>>> {
        let acls: Vec<AclBinding> = acls.into_iter().collect();
        let req = CreateAclsRequest::default().with_creations(
            acls.iter()
                .map(|a| {
                    AclCreation::default()
                        .with_resource_type(a.resource_type.code())
                        .with_resource_name(sb(&a.resource_name))
                        .with_resource_pattern_type(a.pattern_type.code())
                        .with_principal(sb(&a.principal))
                        .with_host(sb(&a.host))
                        .with_operation(a.operation.code())
                        .with_permission_type(a.permission.code())
                })
                .collect(),
        );
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        Ok(acls
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let outcome = match resp.results.get(i) {
                    None => Err(Error::Protocol(format!("CreateAcls has no result {i}"))),
                    Some(r) => item_error(r.error_code, r.error_message.as_ref(), "CreateAcls"),
                };
                (a, outcome)
            })
            .collect())
    }

    /// The ACLs matching `filter`, sorted.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Errors
    /// SECURITY_DISABLED when the cluster has no authorizer.
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_acls(&self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let req = describe_request(filter);
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        described(&resp)
    }

    /// Deletes every ACL matching each filter. One entry per filter: the ACLs it deleted.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: ACLs may be deleted after the future was dropped.
    pub async fn delete_acls(
        &self,
        filters: impl IntoIterator<Item = AclBindingFilter>,
    ) -> Result<BTreeMap<AclBindingFilter, Result<Vec<AclBinding>>>> {
        let filters: Vec<AclBindingFilter> = filters.into_iter().collect();
        let req = DeleteAclsRequest::default().with_filters(
            filters
                .iter()
                .map(|f| {
                    DeleteAclsFilter::default()
                        .with_resource_type_filter(f.resource_type.code())
                        .with_resource_name_filter(f.resource_name.as_deref().map(sb))
                        .with_pattern_type_filter(f.pattern_type.code())
                        .with_principal_filter(f.principal.as_deref().map(sb))
                        .with_host_filter(f.host.as_deref().map(sb))
                        .with_operation(f.operation.code())
                        .with_permission_type(f.permission.code())
                })
                .collect(),
        );
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        Ok(deleted(&filters, &resp))
    }
}
