#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| telesfu_server::fuzz::stun_request(data));
