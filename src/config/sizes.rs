//! `instance_sizes`: the instance sizes an operator wants free slots of, on any platform (top
//! level for every target, and per target, where an entry replaces the top-level one of its
//! name).
//!
//! ```yaml
//! instance_sizes:
//!   - name: web.large       # the `flavor` label (origin="config")
//!     vcpus: 4
//!     memory_gib: 16
//!     disk_gib: 100         # optional; 0 or absent: disk is not checked
//!     gpus: 1               # optional
//!     gpu_model: A100       # optional; a GPU size fits only on hosts with this model
//!     alert_below: 10       # optional; HeadroomFlavorSlotsLow under this many N-1 slots
//! ```

use std::collections::BTreeSet;

use serde_json::Value;

use super::tree::{Ctx, Obj};
use crate::placement::{InstanceSize, Origin};

/// At most this many sizes per list: each costs one series per place and target.
pub const MAX_SIZES: usize = 100;
const GIB: f64 = 1_073_741_824.0;

/// Reads the list at `key` of `obj` (absent: empty).
pub fn parse(obj: &mut Obj, key: &'static str, ctx: &mut Ctx) -> Vec<InstanceSize> {
    let path = obj.key_path(key);
    let items = match obj.raw(key) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            ctx.problems.add(
                &path,
                "expected a list of instance sizes (name, vcpus, memory_gib, ...)",
            );
            return Vec::new();
        }
    };
    if items.len() > MAX_SIZES {
        ctx.problems.add(
            &path,
            format!(
                "lists {} sizes; at most {MAX_SIZES} are allowed",
                items.len()
            ),
        );
        return Vec::new();
    }
    let mut names = BTreeSet::new();
    let mut sizes = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let mut o = Obj::new(Some(item), &item_path, ctx);
        let name = o.str("name", ctx);
        if let Some(n) = &name {
            if n.len() > 128 || n.chars().any(char::is_control) {
                ctx.problems.add(
                    &o.key_path("name"),
                    "must be at most 128 characters, without control characters",
                );
            } else if !names.insert(n.clone()) {
                ctx.problems.add(
                    &o.key_path("name"),
                    format!("duplicate instance size `{n}`"),
                );
            }
        }
        let vcpus = amount(&mut o, "vcpus", 4096.0, true, ctx);
        let memory = amount(&mut o, "memory_gib", 65536.0, true, ctx);
        let disk = amount(&mut o, "disk_gib", 1_048_576.0, false, ctx);
        let gpus = amount(&mut o, "gpus", 64.0, false, ctx);
        let alert_below = if o.has("alert_below") {
            amount(&mut o, "alert_below", 1_000_000.0, false, ctx)
        } else {
            None
        };
        let gpu_model = o.opt_str("gpu_model", ctx);
        if gpu_model.is_some() && gpus == Some(0.0) {
            ctx.problems.add(
                &o.key_path("gpu_model"),
                "names a GPU model, but `gpus` is 0 or absent: give the number of GPUs the size needs",
            );
        }
        o.finish(ctx);
        if let (Some(name), Some(vcpus), Some(memory), Some(disk), Some(gpus)) =
            (name, vcpus, memory, disk, gpus)
        {
            sizes.push(InstanceSize {
                name,
                vcpus,
                memory: memory * GIB,
                disk: disk * GIB,
                gpus,
                gpu_model,
                origin: Origin::Config,
                alert_below,
            });
        }
    }
    sizes
}

/// A number at `key` within 0..=max (above 0 when required); absent and not required: 0.
fn amount(o: &mut Obj, key: &'static str, max: f64, required: bool, ctx: &mut Ctx) -> Option<f64> {
    let p = o.key_path(key);
    match o.opt_f64(key, ctx) {
        None if required => {
            if !o.has(key) {
                ctx.problems.add(&p, "missing (required)");
            }
            None
        }
        None => (!o.has(key)).then_some(0.0),
        Some(v) if (required && v <= 0.0) || !(0.0..=max).contains(&v) => {
            let low = if required { "above 0" } else { "at least 0" };
            ctx.problems
                .add(&p, format!("must be {low} and at most {max}, found {v}"));
            None
        }
        Some(v) => Some(v),
    }
}

/// A target's sizes: the top-level ones, each replaced by the target's entry of its name, then
/// the target's others.
pub fn merge(top: &[InstanceSize], target: Vec<InstanceSize>) -> Vec<InstanceSize> {
    let mut out: Vec<InstanceSize> = top
        .iter()
        .filter(|s| !target.iter().any(|t| t.name == s.name))
        .cloned()
        .collect();
    out.extend(target);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_target_entry_replaces_the_top_level_one_of_its_name() {
        let text = r#"
instance_sizes:
  - {name: web, vcpus: 2, memory_gib: 4}
  - {name: db, vcpus: 8, memory_gib: 64, disk_gib: 500, alert_below: 3}
targets:
  - name: c
    platform: cecstack
    endpoint: https://cec.example.internal
    region_id: r1
    auth: {headers: {Authorization: t}}
    instance_sizes:
      - {name: web, vcpus: 4, memory_gib: 8}
      - {name: gpu, vcpus: 8, memory_gib: 32, gpus: 2, gpu_model: A100}
"#;
        let cfg = crate::config::parse(text, &|_| None).unwrap_or_else(|p| panic!("{p:?}"));
        let sizes = &cfg.targets[0].instance_sizes;
        let names: Vec<&str> = sizes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web", "gpu"]);
        assert_eq!((sizes[1].vcpus, sizes[1].memory), (4.0, 8.0 * super::GIB));
        assert_eq!(
            (sizes[0].disk, sizes[0].alert_below),
            (500.0 * super::GIB, Some(3.0))
        );
        assert_eq!(
            (sizes[2].gpus, sizes[2].gpu_model.as_deref()),
            (2.0, Some("A100"))
        );
    }
}
