use bytes::Bytes;

use super::*;
use crate::consumer::ConsumerRecord;
use crate::record::TimestampType;

fn round_trip<T, C>(codec: &C, v: T) -> T
where
    C: Serializer<T> + Deserializer<T>,
{
    let b = codec.serialize(&v).expect("serialize");
    codec.deserialize(&b).expect("deserialize")
}

#[test]
fn integers_use_java_byte_order() {
    // Values and bytes as Java's IntegerSerializer, LongSerializer, ShortSerializer produce.
    assert_eq!(
        Serializer::<i32>::serialize(&BigEndian, &1).unwrap()[..],
        [0, 0, 0, 1]
    );
    assert_eq!(
        Serializer::<i32>::serialize(&BigEndian, &-2).unwrap()[..],
        [0xff, 0xff, 0xff, 0xfe]
    );
    assert_eq!(
        Serializer::<i64>::serialize(&BigEndian, &0x0102_0304_0506_0708).unwrap()[..],
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(
        Serializer::<i16>::serialize(&BigEndian, &258).unwrap()[..],
        [1, 2]
    );
    assert_eq!(
        Serializer::<u32>::serialize(&BigEndian, &0xdead_beef).unwrap()[..],
        [0xde, 0xad, 0xbe, 0xef]
    );
    // Java's DoubleSerializer writes doubleToLongBits big-endian: 1.0 is 0x3ff0000000000000.
    assert_eq!(
        Serializer::<f64>::serialize(&BigEndian, &1.0).unwrap()[..],
        [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
    );
    let d: i32 = BigEndian
        .deserialize(&Bytes::from_static(&[0, 0, 1, 0]))
        .unwrap();
    assert_eq!(d, 256);
}

#[test]
fn integers_round_trip_and_reject_wrong_sizes() {
    for v in [i32::MIN, -1, 0, 1, i32::MAX] {
        assert_eq!(round_trip(&BigEndian, v), v);
    }
    for v in [i64::MIN, -1, 0, 1, i64::MAX] {
        assert_eq!(round_trip(&BigEndian, v), v);
    }
    for v in [0u64, 1, u64::MAX] {
        assert_eq!(round_trip(&BigEndian, v), v);
    }
    assert_eq!(round_trip(&BigEndian, -7i16), -7);
    assert_eq!(round_trip(&BigEndian, 65535u16), 65535);
    assert_eq!(round_trip(&BigEndian, 0.5f32), 0.5);
    // Java's IntegerDeserializer: "Size of data received by IntegerDeserializer is not 4".
    let e =
        Deserializer::<i32>::deserialize(&BigEndian, &Bytes::from_static(&[1, 2, 3])).unwrap_err();
    assert!(e.0.contains("4 bytes"), "{e}");
    assert!(Deserializer::<i64>::deserialize(&BigEndian, &Bytes::from_static(&[0; 4])).is_err());
}

#[test]
fn strings_are_utf8_and_invalid_utf8_is_an_error() {
    assert_eq!(round_trip(&Utf8, "héllo ✓".to_string()), "héllo ✓");
    assert_eq!(Utf8.serialize("ab").unwrap()[..], *b"ab");
    let e =
        Deserializer::<String>::deserialize(&Utf8, &Bytes::from_static(&[0x61, 0xff])).unwrap_err();
    assert!(e.0.contains("UTF-8"), "{e}");
}

#[test]
fn raw_bytes_pass_through_without_copy() {
    let b = Bytes::from_static(b"\x00\x01raw");
    let out: Bytes = Raw.deserialize(&b).unwrap();
    assert_eq!(out, b);
    assert_eq!(out.as_ptr(), b.as_ptr());
    assert_eq!(Serializer::<Bytes>::serialize(&Raw, &b).unwrap(), b);
    assert_eq!(
        Serializer::<[u8]>::serialize(&Raw, &b"xy"[..]).unwrap()[..],
        *b"xy"
    );
}

fn record(offset: i64, key: Option<&'static [u8]>, value: Option<&'static [u8]>) -> ConsumerRecord {
    ConsumerRecord {
        topic: "t".into(),
        partition: 3,
        offset,
        timestamp: 5,
        timestamp_type: TimestampType::CreateTime,
        key: key.map(Bytes::from_static),
        value: value.map(Bytes::from_static),
        headers: Vec::new(),
        leader_epoch: None,
    }
}

#[test]
fn typed_consumer_record_keeps_nulls_and_metadata() {
    let r = record(42, Some(&[0, 0, 0, 9]), None);
    let t: TypedConsumerRecord<i32, String> = r.deserialize(&BigEndian, &Utf8).unwrap();
    assert_eq!((t.key, t.value), (Some(9), None));
    assert_eq!(
        (&*t.topic, t.partition, t.offset, t.timestamp),
        ("t", 3, 42, 5)
    );
}

#[test]
fn deserialization_error_names_topic_partition_offset_and_part() {
    let r = record(77, Some(b"k"), Some(&[0xff]));
    let e = r
        .deserialize::<String, String, _, _>(&Utf8, &Utf8)
        .unwrap_err();
    match &e {
        crate::Error::Deserialization {
            topic,
            partition,
            offset,
            part,
            ..
        } => {
            assert_eq!((topic.as_str(), *partition, *offset), ("t", 3, 77));
            assert_eq!(*part, RecordPart::Value);
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("t-3") && msg.contains("77"), "{msg}");
}

#[test]
fn typed_producer_record_serializes_key_value_and_keeps_the_rest() {
    let r = TypedProducerRecord::new("orders", "v".to_string())
        .key(7i64)
        .partition(2)
        .timestamp(99)
        .header("h", Bytes::from_static(b"x"))
        .serialize(&BigEndian, &Utf8)
        .unwrap();
    assert_eq!(&*r.topic, "orders");
    assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 0, 0, 0, 0, 7][..]));
    assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
    assert_eq!(
        (r.partition, r.timestamp, r.headers.len()),
        (Some(2), Some(99), 1)
    );
    let tomb = TypedProducerRecord::<i32, String>::tombstone("t", 1)
        .serialize(&BigEndian, &Utf8)
        .unwrap();
    assert_eq!(tomb.value, None);
}

#[cfg(feature = "json")]
mod json {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Order {
        id: u32,
        item: String,
    }

    #[test]
    fn json_round_trips_and_reports_bad_input() {
        let o = Order {
            id: 1,
            item: "tea".into(),
        };
        let b = Json.serialize(&o).unwrap();
        assert_eq!(&b[..], br#"{"id":1,"item":"tea"}"#);
        let back: Order = Json.deserialize(&b).unwrap();
        assert_eq!(back, o);
        let e = Deserializer::<Order>::deserialize(&Json, &Bytes::from_static(b"{\"id\":"))
            .unwrap_err();
        assert!(e.0.contains("EOF"), "{e}");
    }
}
