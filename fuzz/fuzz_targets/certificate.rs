#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| telesfu_e2ee::fuzz::certificate(data));
