//! One records section through one codec: the first byte picks the codec, the rest is input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&codec, input)) = data.split_first() {
        ferrokafka::fuzzing::decompress(codec, input);
    }
});
