#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| telesfu_core::fuzz::rtp_view(data));
