//! Consumer-protocol member data: the first byte picks assignment (even) or subscription
//! (odd), the rest is the encoded bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&which, bytes)) = data.split_first() {
        if which % 2 == 0 {
            ferrokafka::fuzzing::assignment(bytes);
        } else {
            ferrokafka::fuzzing::subscription(bytes);
        }
    }
});
