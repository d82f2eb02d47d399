//! Fuzzes every platform's list reader on any body: records or a clear error, never a panic,
//! and never a record whose amounts cannot be capacity (checked where they are exported, by
//! `collect::plausible`; here the readers themselves).
#![no_main]

use headroom::json::{Cancel, MAX_UNPAGED_ITEMS};
use headroom::platforms::{cecstack, h3c_cloudos, huawei_esm, sangfor_scp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let cancel = Cancel::default();
    let _ = h3c_cloudos::api::read_list::<h3c_cloudos::api::Hypervisor>(
        "fuzz",
        body,
        &["hypervisors"],
        MAX_UNPAGED_ITEMS,
        &cancel,
    );
    let _ = h3c_cloudos::api::read_list::<h3c_cloudos::api::Server>(
        "fuzz",
        body,
        &["servers"],
        MAX_UNPAGED_ITEMS,
        &cancel,
    );
    if let Ok(data) = sangfor_scp::api::envelope("fuzz", body) {
        let _ = sangfor_scp::api::read_page::<sangfor_scp::api::Host>("fuzz", data, 100, &cancel);
    }
    if let Ok(data) = cecstack::api::envelope("fuzz", 200, body) {
        let _ = cecstack::api::read_page::<cecstack::api::Instance>(
            "fuzz",
            cecstack::api::Paging::A("virtualMachines"),
            data,
            100,
            &cancel,
        );
    }
    let _ = huawei_esm::api::read_page::<huawei_esm::api::CapacityRow>("fuzz", body, &cancel);
});
