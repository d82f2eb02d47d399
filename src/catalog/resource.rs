//! The closed resource vocabulary: every `resource` label value headroom exports, each with one
//! meaning and one unit on every platform.
//!
//! A collector names a resource with a [`Resource`], never with a string, so it cannot invent a
//! name or pair a name with another unit: the `Batch` a collector fills writes the `resource` and
//! `unit` labels from the variant. Virtual CPUs, physical cores, hardware threads and CPU hertz
//! are four different resources, so no sum can mix them.

/// The unit of a resource's values (the `unit` label), always a base unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// Virtual CPUs as instances are given them.
    Vcpus,
    /// Physical CPU cores.
    Cores,
    /// Hardware threads (logical CPUs).
    Threads,
    Hertz,
    Bytes,
    BitsPerSecond,
    /// A number of things.
    Count,
    /// A fraction 0-1 (or above 1 for an overcommit); every `*_ratio` family has this unit.
    Ratio,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Vcpus => "vcpus",
            Unit::Cores => "cores",
            Unit::Threads => "threads",
            Unit::Hertz => "hertz",
            Unit::Bytes => "bytes",
            Unit::BitsPerSecond => "bits_per_second",
            Unit::Count => "count",
            Unit::Ratio => "ratio",
        }
    }
}

macro_rules! vocabulary {
    ($($variant:ident = $name:literal, $unit:ident, $meaning:literal;)*) => {
        /// A resource headroom measures. See the module documentation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Resource {
            $(#[doc = $meaning] $variant,)*
        }

        impl Resource {
            /// Every resource, in the order `METRICS.md` lists them.
            pub const ALL: &'static [Resource] = &[$(Resource::$variant,)*];

            /// The `resource` label value.
            pub fn name(self) -> &'static str {
                match self { $(Resource::$variant => $name,)* }
            }

            /// The unit of the resource's amounts.
            pub fn unit(self) -> Unit {
                match self { $(Resource::$variant => Unit::$unit,)* }
            }

            /// What the resource is, for `METRICS.md`.
            pub fn meaning(self) -> &'static str {
                match self { $(Resource::$variant => $meaning,)* }
            }
        }
    };
}

vocabulary! {
    Vcpu = "vcpu", Vcpus, "Virtual CPUs as instances are given them (after any overcommit).";
    CpuCores = "cpu_cores", Cores, "Physical CPU cores.";
    CpuThreads = "cpu_threads", Threads, "Hardware threads (logical CPUs, cores x threads per core): what a hypervisor schedules vCPUs on.";
    CpuSockets = "cpu_sockets", Count, "Populated CPU sockets.";
    CpuHertz = "cpu_hertz", Hertz, "CPU capacity as clock frequency (logical CPUs or cores x frequency, as the platform computes it).";
    Memory = "memory", Bytes, "Memory (RAM).";
    Storage = "storage", Bytes, "Block storage that instance disks and volumes are carved from: datastores, storage pools, storage arrays.";
    LocalDisk = "local_disk", Bytes, "Disks inside a host (a hypervisor's local disk, a host's raw disks, a bare-metal node's disk).";
    LocalDiskDevices = "local_disk_devices", Count, "Local disk devices of hosts.";
    FileStorage = "file_storage", Bytes, "File storage (shared file systems).";
    ObjectStorage = "object_storage", Bytes, "Object storage.";
    Objects = "objects", Count, "Objects stored in object storage.";
    Gpu = "gpu", Count, "GPU cards (physical devices; a card sliced into vGPUs is still one card).";
    GpuMemory = "gpu_memory", Bytes, "GPU memory.";
    Vgpu = "vgpu", Count, "vGPU instances (slices of GPU cards).";
    Instances = "instances", Count, "Instances (virtual machines, bare-metal or database instances).";
    Hosts = "hosts", Count, "Whole hosts handed out as a unit (dedicated hosts, bare-metal nodes).";
    Volumes = "volumes", Count, "Block volumes (disks).";
    Snapshots = "snapshots", Count, "Volume snapshots.";
    VirtualSnapshots = "virtual_snapshots", Count, "Instance snapshots.";
    AutoVirtualSnapshots = "auto_virtual_snapshots", Count, "Automatic instance snapshots.";
    Backups = "backups", Count, "Backups.";
    Eip = "eip", Count, "Elastic (floating) IP addresses.";
    Bandwidth = "bandwidth", BitsPerSecond, "Network bandwidth.";
    Networks = "networks", Count, "Virtual networks.";
    Subnets = "subnets", Count, "Subnets.";
    Vnics = "vnics", Count, "Virtual network interfaces.";
    Vpcs = "vpcs", Count, "Virtual private clouds.";
    SecurityGroups = "security_groups", Count, "Security groups.";
    Firewalls = "firewalls", Count, "Firewalls.";
    LoadBalancers = "load_balancers", Count, "Load balancers.";
    Listeners = "listeners", Count, "Load balancer listeners (any layer).";
    L4Listeners = "l4_listeners", Count, "Layer-4 load balancer listeners.";
    L7Listeners = "l7_listeners", Count, "Layer-7 load balancer listeners.";
    L4Members = "l4_members", Count, "Layer-4 load balancer backend members.";
    L7Members = "l7_members", Count, "Layer-7 load balancer backend members.";
    VpnConnections = "vpn_connections", Count, "VPN connections.";
    VpnGateways = "vpn_gateways", Count, "VPN gateways.";
    VpnServices = "vpn_services", Count, "VPN services.";
    PrivateZones = "private_zones", Count, "Private DNS zones.";
    RecordSets = "record_sets", Count, "DNS record sets.";
    OtherQuota = "other", Count, "A counted quota item the vocabulary has no name for; the `quota_key` label carries the platform's key (quota families only).";
}

impl Resource {
    /// The resource a label value names.
    pub fn parse(name: &str) -> Option<Resource> {
        Resource::ALL.iter().copied().find(|r| r.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Resource::ALL {
            assert!(seen.insert(r.name()), "{} twice", r.name());
            assert!(r
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert_eq!(Resource::parse(r.name()), Some(*r));
        }
    }

    #[test]
    fn the_cpu_resources_have_units_of_their_own() {
        let units: std::collections::BTreeSet<Unit> = [
            Resource::Vcpu,
            Resource::CpuCores,
            Resource::CpuThreads,
            Resource::CpuHertz,
        ]
        .iter()
        .map(|r| r.unit())
        .collect();
        assert_eq!(units.len(), 4);
    }
}
