//! A fetch response's records blob: any number of record batches, every codec.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrokafka::fuzzing::record_batches(data);
});
