//! Nova flavors (`flavors/detail`), shared by the platforms whose compute API is Nova's (H3C
//! CloudOS; Sangfor SCP's OpenStack API): the record and how a flavor becomes an instance size
//! for the slot count.

use serde::Deserialize;

use crate::collect::Batch;
use crate::lenient::{Num, Text};
use crate::placement::{InstanceSize, Origin};

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

/// A flavor of `flavors/detail`. CloudOS's schema spells vCPUs `vcups`, its example `vcpus`;
/// its example sends numbers as strings, SCP's as numbers (both parse).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Flavor {
    pub id: Text,
    pub name: Text,
    /// MB.
    pub ram: Num,
    #[serde(alias = "vcups")]
    pub vcpus: Num,
    /// GB of root disk.
    pub disk: Num,
    /// GB of ephemeral disk beside the root disk, on the same host.
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral")]
    pub ephemeral: Num,
    /// MB of swap disk, on the same host.
    pub swap: Num,
    #[serde(rename = "OS-FLV-DISABLED:disabled")]
    pub disabled: Text,
}

/// The catalogue's enabled flavors as instance sizes (MB and GB in base units); a flavor
/// without vCPUs or RAM is dropped and counted. The disk is what Nova places on the host: the
/// root disk, the ephemeral disk (GB) and swap (MB); it bounds slots only where hosts report
/// disk room.
pub fn flavor_sizes(flavors: &[Flavor], batch: &mut Batch) -> Vec<InstanceSize> {
    let mut out = Vec::new();
    for f in flavors {
        if matches!(f.disabled.as_str(), "true" | "True" | "1") {
            continue;
        }
        let (Some(vcpus), Some(ram)) = (
            f.vcpus.get().filter(|v| *v > 0.0),
            f.ram.get().filter(|v| *v > 0.0),
        ) else {
            batch.drop_value();
            continue;
        };
        let name = if f.name.as_str().is_empty() {
            f.id.as_str()
        } else {
            f.name.as_str()
        };
        out.push(InstanceSize {
            name: name.to_string(),
            vcpus,
            memory: ram * MIB,
            disk: (f.disk.get().unwrap_or(0.0) + f.ephemeral.get().unwrap_or(0.0)).max(0.0) * GIB
                + f.swap.get().unwrap_or(0.0).max(0.0) * MIB,
            gpus: 0.0,
            gpu_model: None,
            origin: Origin::Catalog,
            alert_below: None,
        });
    }
    out
}
