use super::*;
use crate::admin::ConfigResourceType;
use crate::protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use crate::protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

#[test]
fn alter_request_carries_each_operation_code() {
    let r = ConfigResource::topic("t");
    let req = alter_request(
        &[(
            r,
            vec![
                AlterConfigOp::set("a", "1"),
                AlterConfigOp::delete("b"),
                AlterConfigOp::Append("c".into(), "x".into()),
                AlterConfigOp::Subtract("d".into(), "y".into()),
            ],
        )],
        true,
    );
    assert!(req.validate_only);
    let res = &req.resources[0];
    assert_eq!((res.resource_type, res.resource_name.as_str()), (2, "t"));
    let ops: Vec<(&str, i8, Option<&str>)> = res
        .configs
        .iter()
        .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
        .collect();
    assert_eq!(
        ops,
        [
            ("a", 0, Some("1")),
            ("b", 1, None),
            ("c", 2, Some("x")),
            ("d", 3, Some("y"))
        ]
    );
}

#[test]
fn routing_sends_broker_resources_to_their_broker() {
    let items = vec![
        (ConfigResource::topic("t"), ()),
        (ConfigResource::broker(3), ()),
        (ConfigResource::broker_default(), ()),
        (ConfigResource::group("g"), ()),
    ];
    let routed = by_target(&items);
    assert_eq!(routed.len(), 2);
    assert_eq!(
        routed[&None].len(),
        3,
        "topic, cluster default, group: any broker"
    );
    assert_eq!(
        routed[&Some(3)][0].0.resource_type,
        ConfigResourceType::Broker
    );
}

#[test]
fn describe_results_per_resource() {
    let ok = ConfigResource::topic("t");
    let bad = ConfigResource::topic("gone");
    let missing = ConfigResource::group("never-answered");
    let resp = DescribeConfigsResponse::default().with_results(vec![
        DescribeConfigsResult::default()
            .with_resource_type(2)
            .with_resource_name(sb("t"))
            .with_configs(vec![
                DescribeConfigsResourceResult::default()
                    .with_name(sb("retention.ms"))
                    .with_value(Some(sb("5")))
                    .with_config_source(1)
                    .with_synonyms(vec![
                        DescribeConfigsSynonym::default()
                            .with_name(sb("retention.ms"))
                            .with_value(Some(sb("5")))
                            .with_source(1),
                        DescribeConfigsSynonym::default()
                            .with_name(sb("log.retention.ms"))
                            .with_value(None)
                            .with_source(5),
                    ]),
                DescribeConfigsResourceResult::default()
                    .with_name(sb("sasl.jaas.config"))
                    .with_value(None)
                    .with_is_sensitive(true)
                    .with_read_only(true)
                    .with_config_source(42),
            ]),
        DescribeConfigsResult::default()
            .with_resource_type(2)
            .with_resource_name(sb("gone"))
            .with_error_code(3)
            .with_error_message(Some(sb("Topic gone does not exist"))),
    ]);
    let out = describe_results(&[ok.clone(), bad.clone(), missing.clone()], &resp);
    let configs = out[&ok].as_ref().expect("ok");
    let r = &configs["retention.ms"];
    assert_eq!(r.value.as_deref(), Some("5"));
    assert_eq!(r.source, ConfigSource::DynamicTopicConfig);
    assert_eq!(r.synonyms.len(), 2);
    assert_eq!(r.synonyms[1].source, ConfigSource::DefaultConfig);
    assert_eq!(r.synonyms[1].value, None);
    let s = &configs["sasl.jaas.config"];
    assert!(s.is_sensitive && s.is_read_only && s.value.is_none());
    assert_eq!(s.source, ConfigSource::Unknown(42));
    let e = out[&bad].as_ref().expect_err("error");
    assert_eq!(e.code().map(|c| c.0), Some(3));
    assert!(e.to_string().contains("Topic gone does not exist"), "{e}");
    assert!(matches!(out[&missing], Err(Error::Protocol(_))));
}

#[test]
fn alter_results_per_resource() {
    let a = ConfigResource::topic("a");
    let b = ConfigResource::broker(1);
    let resp = IncrementalAlterConfigsResponse::default().with_responses(vec![
        AlterConfigsResourceResponse::default()
            .with_resource_type(4)
            .with_resource_name(sb("1"))
            .with_error_code(40)
            .with_error_message(Some(sb("Invalid value x"))),
        AlterConfigsResourceResponse::default()
            .with_resource_type(2)
            .with_resource_name(sb("a")),
    ]);
    let out = alter_results(&[a.clone(), b.clone()], &resp);
    assert!(out[&a].is_ok());
    let e = out[&b].as_ref().expect_err("invalid");
    assert_eq!(e.code().map(|c| c.0), Some(40));
    assert!(
        e.to_string().contains("broker \"1\": Invalid value x"),
        "{e}"
    );
}
