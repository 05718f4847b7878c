#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| telesfu_e2ee::fuzz::sframe_header(data));
