#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| metal_fuzz::bmc::addresses(data));
