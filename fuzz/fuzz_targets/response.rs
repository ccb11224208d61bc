//! A response frame: byte 0 picks the API, byte 1 the version, the rest is the frame
//! (correlation id onwards, without the size prefix).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let [api, version, frame @ ..] = data {
        let _ = ferrokafka::fuzzing::response(*api, *version, frame);
    }
});
